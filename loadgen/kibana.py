"""Kibana Discover links for one tracking ID (`make kibana ID=...`, and the verify/trace output).

    python -m loadgen.kibana <tracking-id>     # prints the link; KIBANA_URL changes the base

Only the compose stack has a Kibana: ``link_line`` prints the link when one answers and says
so when none does (the native stack), and ``make kibana`` warns on stderr.

The link opens Discover on the ``trackstack-logs`` data view (pinned by id, the 8.15+/9.x
``dataSource`` form), with the KQL query ``tracking_id:"<id>"``, the saved search's columns,
oldest line first, over the last 7 days. Kibana keeps its app state in the URL fragment as
rison (``_g`` global: time; ``_a`` app: data view, query, columns, sort); prison encodes it,
and percent-encoding keeps characters such as ``"``, ``#``, ``&`` and ``+`` intact.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import prison
import requests

from loadgen import cli
from setup.project import DATA_VIEW_ID

DEFAULT_KIBANA_URL = "http://127.0.0.1:5601"
# The columns of the saved search "Requests by tracking_id" (kibana/saved-objects.ndjson).
COLUMNS = (
    "service.name",
    "tracking_id",
    "log.level",
    "event.dataset",
    "http.request.method",
    "url.path",
    "http.response.status_code",
    "event.duration",
    "message",
)
# Rison's own punctuation stays readable; everything else a URL fragment or Kibana's query
# string parsing could misread ("#", "&", "=", "+", "%", '"', spaces) is percent-encoded.
RISON_SAFE = "!'()*,:@$-_.~/"


def kql_phrase(value: str) -> str:
    """A KQL quoted string matching value exactly (backslash and double quote escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_state(state: dict[str, Any]) -> str:
    return quote(str(prison.dumps(state)), safe=RISON_SAFE)


def discover_url(
    tracking_id: str,
    kibana_url: str = DEFAULT_KIBANA_URL,
    *,
    time_from: str = "now-7d",
    time_to: str = "now",
    columns: Sequence[str] = COLUMNS,
) -> str:
    """The Discover link showing every log line of one request, across both services."""
    global_state = {
        "filters": [],
        "refreshInterval": {"pause": True, "value": 0},
        "time": {"from": time_from, "to": time_to},
    }
    app_state = {
        "columns": list(columns),
        "dataSource": {"dataViewId": DATA_VIEW_ID, "type": "dataView"},
        "filters": [],
        "query": {"language": "kuery", "query": f"tracking_id:{kql_phrase(tracking_id)}"},
        "sort": [["@timestamp", "asc"]],
    }
    return (
        f"{kibana_url.rstrip('/')}/app/discover#/"
        f"?_g={encode_state(global_state)}&_a={encode_state(app_state)}"
    )


def kibana_url() -> str:
    return os.environ.get("KIBANA_URL", DEFAULT_KIBANA_URL)


@functools.cache
def answers(url: str, timeout_s: float = 1.0) -> bool:
    """Whether a Kibana answers at ``url`` (any HTTP status of ``/api/status``, even 401)."""
    try:
        requests.get(f"{url.rstrip('/')}/api/status", timeout=timeout_s)
    except requests.RequestException:
        return False
    return True


def link_line(tracking_id: str, url: str | None = None) -> str:
    """``Kibana: <Discover link>`` when a Kibana answers; otherwise a line saying there is none
    (the native stack has no Kibana), so no tool prints a link that cannot open."""
    url = url or kibana_url()
    if answers(url):
        return f"Kibana: {discover_url(tracking_id, url)}"
    return f"Kibana: none answers at {url} (Kibana comes with the compose stack: make up)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.kibana", description="Print the Kibana Discover link of a request."
    )
    parser.add_argument("tracking_id", help="the request's X-Tracking-ID")
    parser.add_argument(
        "--kibana-url",
        default=os.environ.get("KIBANA_URL", DEFAULT_KIBANA_URL),
        help=f"Kibana's base URL (KIBANA_URL, default {DEFAULT_KIBANA_URL})",
    )
    parser.add_argument("--from", dest="time_from", default="now-7d", help="start (now-7d)")
    args = parser.parse_args(argv)
    tracking_id = cli.tracking_id(args.tracking_id)

    def show() -> int:
        print(discover_url(tracking_id, args.kibana_url, time_from=args.time_from))
        if not answers(args.kibana_url):
            print(
                f"kibana: note: no Kibana answers at {args.kibana_url} now; the link opens once"
                " the compose stack runs (make up)",
                file=sys.stderr,
            )
        return 0

    return cli.run_quietly("kibana", show)


if __name__ == "__main__":
    sys.exit(main())
