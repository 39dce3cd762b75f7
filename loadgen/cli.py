"""What every command-line tool of the project does the same way (``python -m loadgen``,
``python -m workshop``, ``python -m loadgen.kibana``):

- its output piped into ``head`` (or a pager that quits) ends it quietly, with exit status 0:
  the reader stopped reading, nothing went wrong (Python's "Note on SIGPIPE" in the ``signal``
  docs: point stdout at devnull so the interpreter's final flush cannot fail again);
- a piece of the stack that does not answer is named with its URL and the command that starts
  it, instead of a client library's nested connection error;
- names are read the way the other tools print them: a tracking ID with or without the quotes
  of a JSON body or a KQL query.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from elasticsearch import ApiError, AuthenticationException, TransportError
from elasticsearch import ConnectionError as UnreachableError
from loadgen.elastic import INDEX_PATTERN, credentials, es_url

START_STACK = "start the stack with make native-up (or make up)"


def unreachable(piece: str, url: str) -> str:
    """``<piece> at <url> is not reachable: start the stack with make native-up (or make up)``."""
    return f"{piece} at {url} is not reachable: {START_STACK}"


def explain_elasticsearch(exc: ApiError | TransportError) -> str:
    """One sentence for an Elasticsearch client error: what is wrong and what to do about it."""
    url = es_url()
    if isinstance(exc, UnreachableError):
        return unreachable("Elasticsearch", url)
    if isinstance(exc, AuthenticationException):
        user = credentials()
        return (
            f"Elasticsearch at {url} refused the login of {user[0] if user else 'anonymous'}:"
            " the passwords in .secrets/ are not the running stack's (native: make native-down"
            " && make native-up; compose: make down && make up)"
        )
    if isinstance(exc, ApiError) and exc.meta.status == 404:
        return (
            f"Elasticsearch at {url} has no {INDEX_PATTERN} index yet: nothing was shipped so"
            " far (is Filebeat running? make native-status)"
        )
    return f"Elasticsearch at {url}: {exc}"


def tracking_id(text: str) -> str:
    """A tracking ID as it was copied: ``abc``, ``"abc"``, ``'abc'``, ``tracking_id:"abc"``,
    ``"tracking_id":"abc"`` and surrounding spaces all give ``abc``."""
    value = text.strip().rstrip(",")
    for prefix in ('"tracking_id":', "tracking_id:", "tracking_id="):
        if value.startswith(prefix):
            value = value[len(prefix) :].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'`":
        value = value[1:-1].strip()
    return value


def run_quietly(prog: str, main: Callable[[], int]) -> int:
    """``main()``'s exit status; 0 when stdout's reader went away; 2 when Elasticsearch failed."""
    try:
        status = main()
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (ApiError, TransportError) as exc:
        print(f"{prog}: {explain_elasticsearch(exc)}", file=sys.stderr)
        return 2
