"""`make compose-check`: the compose stack, end to end, the way a user meets it.

    python3 -m setup.compose_check            # every step below, stops at the first failure

1. ``docker compose up -d --build --wait``: every service healthy, every one-shot exited 0;
2. a short load from the compose load generator: ``make load`` with ``LOADGEN`` set to
   ``docker compose --profile load run --rm --no-deps loadgen python -m loadgen``, so the run
   folder lands in the checkout's runs/ (the bind mount);
3. ``make verify`` the same way: every tracking ID of that run is in Elasticsearch with the
   documents its endpoint must produce;
4. Kibana answers as ``elastic`` (``GET /api/status``: overall level available);
5. the data view ``trackstack-logs`` exists (``GET /api/data_views/data_view/<id>``) on
   ``trackstack-logs-*`` with time field ``@timestamp``;
6. the saved search and the dashboard exist (``GET /api/saved_objects/<type>/<id>``), and so
   does every object the dashboard's panels reference;
7. one request to the service (``GET /api/orders/42``): a search by its ``tracking_id``
   through Kibana (``POST /api/console/proxy``, Kibana's own route to Elasticsearch, as the
   same user) returns its lines from both services, ``trackstack-service`` and
   ``trackstack-orders``.

Exit 0 if all pass; else 1 with a message naming the step and what was wrong. Standard
library only, like setup/compose.py: it needs python3, make and Docker, not the project's venv.

Environment: COMPOSE (default "docker compose"), SECRETS_DIR (<repo>/.secrets), KIBANA_URL
(http://127.0.0.1:5601), SERVICE_URL (http://127.0.0.1:8000), CHECK_RATE / CHECK_DURATION
(the load: 5 req/s for 20 s), WAIT_TIMEOUT (seconds for `up --wait`, 900).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from setup import project
from setup.project import DATA_VIEW_ID, INDEX_PATTERN, REPO, read_env_file

DATA_VIEW_TITLE = INDEX_PATTERN
SAVED_SEARCH_ID = "trackstack-requests-by-tracking-id"
DASHBOARD_ID = "trackstack-overview"
SERVICES = {"trackstack-service", "trackstack-orders"}
SEARCH_TIMEOUT_S = 60.0  # a line is searchable about a second after it is written

# (status, parsed JSON body or None) for (method, url, body)
Http = Callable[[str, str, Any], tuple[int, Any]]
Run = Callable[[list[str]], int]
# (url, X-Tracking-ID sent) -> the X-Tracking-ID the service answered with
Send = Callable[[str, str], str | None]


class CheckFailed(Exception):
    """One step failed; the message says which and why."""


def read_password(secrets_dir: Path) -> str:
    """ELASTIC_PASSWORD from <secrets_dir>/elastic.env (init-secrets writes it)."""
    path = secrets_dir / "elastic.env"
    if not path.is_file():
        raise CheckFailed(f"cannot read {path}: no such file (did init-secrets run?)")
    try:
        password = read_env_file(path).get("ELASTIC_PASSWORD")
    except OSError as exc:
        raise CheckFailed(f"cannot read {path}: {exc} (did init-secrets run?)") from exc
    if not password:
        raise CheckFailed(f"no ELASTIC_PASSWORD in {path}")
    return password


def http_url(url: str) -> str:
    """``url`` if it is http(s); urllib would also open file: and other schemes."""
    if not url.startswith(("http://", "https://")):
        raise CheckFailed(f"not an http(s) URL: {url!r} (check KIBANA_URL / SERVICE_URL)")
    return url


def urllib_http(user: str, password: str, timeout_s: float = 30) -> Http:
    """An Http that logs in with basic auth and sends what Kibana's APIs require."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()

    def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(http_url(url), data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Basic {token}")
        # Kibana refuses a POST without it (cross-site request forgery protection).
        request.add_header("kbn-xsrf", "trackstack-compose-check")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise CheckFailed(f"{method} {url}: no answer ({exc})") from exc
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    return http


def urllib_send(url: str, tracking_id: str) -> str | None:
    headers = {"X-Tracking-ID": tracking_id}
    request = urllib.request.Request(http_url(url), headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            returned: str | None = response.headers.get("X-Tracking-ID")
            return returned
    except urllib.error.HTTPError as exc:
        raise CheckFailed(f"GET {url} answered {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise CheckFailed(f"GET {url}: no answer ({exc})") from exc


def subprocess_run(argv: list[str]) -> int:
    print(f"compose-check: $ {shlex.join(argv)}", flush=True)
    return subprocess.run(argv, cwd=REPO, check=False).returncode


@dataclass
class Checker:
    """The steps, against injectable HTTP and process runners (the unit tests use fakes)."""

    http: Http
    run: Run
    send: Send = urllib_send
    compose: list[str] = field(default_factory=lambda: ["docker", "compose"])
    kibana_url: str = "http://127.0.0.1:5601"
    service_url: str = "http://127.0.0.1:8000"
    rate: str = "5"
    duration: str = "20"
    wait_timeout_s: int = 900
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    say: Callable[[str], None] = lambda text: print(f"compose-check: {text}", flush=True)

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("docker compose up --wait", self.up),
            ("short load (make load, compose's loadgen)", self.load),
            ("make verify against compose", self.verify),
            ("Kibana answers", self.kibana_status),
            (f"data view {DATA_VIEW_ID}", self.data_view),
            ("saved search and dashboard", self.saved_objects),
            ("search by tracking_id through Kibana", self.search_by_tracking_id),
        ]

    def check(self) -> int:
        steps = self.steps()
        for number, (name, step) in enumerate(steps, 1):
            self.say(f"[{number}/{len(steps)}] {name} ...")
            try:
                detail = step()
            except CheckFailed as exc:
                self.say(f"FAILED at step {number} ({name}): {exc}")
                return 1
            self.say(f"[{number}/{len(steps)}] {name}: ok{f' ({detail})' if detail else ''}")
        self.say("PASSED: the compose stack ships, verifies and shows in Kibana")
        return 0

    # --- the steps ------------------------------------------------------------------------

    def _loadgen(self) -> str:
        return shlex.join([*self.compose, "--profile", "load", "run", "--rm", "--no-deps"]) + (
            " loadgen python -m loadgen"
        )

    def up(self) -> str:
        # First what `up` needs, so a missing piece is named as such, not as an unhealthy
        # service (make doctor checks the same and says what to install).
        if self.run([*self.compose, "version"]):
            raise CheckFailed(
                f"`{shlex.join(self.compose)} version` failed: Docker Compose v2 is missing"
                " (`make doctor` says what to install)"
            )
        if self.run(["docker", "info", "--format", "{{.ServerVersion}}"]):
            raise CheckFailed(
                "no Docker engine answers (`docker info` failed; `make doctor` says more)"
            )
        argv = [*self.compose, "up", "-d", "--build", "--wait"]
        argv += ["--wait-timeout", str(self.wait_timeout_s)]
        if self.run(argv):
            raise CheckFailed(
                "`docker compose up --wait` failed: a service is unhealthy or a one-shot step"
                " exited non-zero (see `docker compose ps -a` and `make logs SVC=<name>`)"
            )
        return ""

    def load(self) -> str:
        argv = ["make", "load", f"RATE={self.rate}", f"DURATION={self.duration}"]
        if self.run([*argv, f"LOADGEN={self._loadgen()}"]):
            raise CheckFailed("the load run failed (its output is above)")
        return f"{self.rate} req/s for {self.duration} s"

    def verify(self) -> str:
        if self.run(["make", "verify", f"LOADGEN={self._loadgen()}"]):
            raise CheckFailed(
                "make verify found tracking IDs missing or incomplete in Elasticsearch"
                " (its report is above; the run folder is the newest in runs/)"
            )
        return "every tracking ID of the run found"

    def kibana_status(self) -> str:
        status, body = self.http("GET", f"{self.kibana_url}/api/status", None)
        if status != 200:
            raise CheckFailed(f"GET /api/status answered {status} (is the elastic login right?)")
        level = (body or {}).get("status", {}).get("overall", {}).get("level")
        if level != "available":
            raise CheckFailed(f"Kibana's overall status is {level!r}, not 'available'")
        return f"version {(body or {}).get('version', {}).get('number', '?')}"

    def data_view(self) -> str:
        url = f"{self.kibana_url}/api/data_views/data_view/{DATA_VIEW_ID}"
        status, body = self.http("GET", url, None)
        if status == 404:
            raise CheckFailed(
                f"no data view {DATA_VIEW_ID!r} in Kibana (kibana-setup imports it:"
                " `docker compose up kibana-setup`)"
            )
        if status != 200:
            raise CheckFailed(f"GET {url} answered {status}")
        view = (body or {}).get("data_view", {})
        got = (view.get("title"), view.get("timeFieldName"))
        if got != (DATA_VIEW_TITLE, "@timestamp"):
            raise CheckFailed(
                f"data view {DATA_VIEW_ID!r} is on {got[0]!r} with time field {got[1]!r};"
                f" expected {DATA_VIEW_TITLE!r} and '@timestamp'"
            )
        return f"{DATA_VIEW_TITLE}, @timestamp"

    def _saved_object(self, kind: str, object_id: str) -> dict[str, Any]:
        url = f"{self.kibana_url}/api/saved_objects/{kind}/{quote(object_id)}"
        status, body = self.http("GET", url, None)
        if status == 404:
            raise CheckFailed(
                f"no {kind} {object_id!r} in Kibana (kibana-setup imports kibana/*.ndjson:"
                " `docker compose up kibana-setup`)"
            )
        if status != 200 or not isinstance(body, dict):
            raise CheckFailed(f"GET {url} answered {status}")
        return body

    def saved_objects(self) -> str:
        search = self._saved_object("search", SAVED_SEARCH_ID)
        dashboard = self._saved_object("dashboard", DASHBOARD_ID)
        references = dashboard.get("references", [])
        for reference in references:
            if reference.get("type") in ("visualization", "search", "lens"):
                self._saved_object(reference["type"], reference["id"])
        titles = (search.get("attributes", {}).get("title"), dashboard["attributes"]["title"])
        return f"{titles[0]!r}, {titles[1]!r} with {len(references)} references"

    def one_request(self) -> str:
        """GET /api/orders/42 with a new X-Tracking-ID; the ID the service answered with."""
        sent = f"compose-check-{int(time.time() * 1000)}"
        returned = self.send(f"{self.service_url}/api/orders/42", sent)
        if not returned:
            raise CheckFailed("GET /api/orders/42 answered without an X-Tracking-ID header")
        return returned

    def search_by_tracking_id(self) -> str:
        tracking_id = self.one_request()
        url = (
            f"{self.kibana_url}/api/console/proxy?method=POST"
            f"&path={quote(f'/{DATA_VIEW_TITLE}/_search', safe='')}"
        )
        query = {
            "size": 100,
            "query": {"term": {"tracking_id": tracking_id}},
            "sort": [{"@timestamp": "asc"}],
        }
        deadline = self.clock() + SEARCH_TIMEOUT_S
        services: set[str] = set()
        hits: list[dict[str, Any]] = []
        while True:
            status, body = self.http("POST", url, query)
            if status != 200:
                raise CheckFailed(f"Kibana's search (POST /api/console/proxy) answered {status}")
            hits = (body or {}).get("hits", {}).get("hits", [])
            services = {h.get("_source", {}).get("service", {}).get("name") for h in hits}
            if SERVICES <= services:
                return f"tracking_id {tracking_id}: {len(hits)} lines from {sorted(services)}"
            if self.clock() > deadline:
                raise CheckFailed(
                    f"a search by tracking_id {tracking_id!r} found {len(hits)} lines from"
                    f" {sorted(s for s in services if s)} after {SEARCH_TIMEOUT_S:g} s; expected"
                    f" lines from {sorted(SERVICES)} (is Filebeat shipping? `make logs"
                    " SVC=filebeat`)"
                )
            self.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    # No options: the settings are environment variables (module docstring). --help prints it.
    argparse.ArgumentParser(
        prog="python3 -m setup.compose_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).parse_args(argv)
    secrets_dir = project.secrets_dir()

    def http(method: str, url: str, body: Any) -> tuple[int, Any]:
        # The password exists only once init-secrets ran (step 1), so it is read on first use.
        return urllib_http("elastic", read_password(secrets_dir))(method, url, body)

    checker = Checker(
        http=http,
        run=subprocess_run,
        compose=shlex.split(os.environ.get("COMPOSE", "docker compose")),
        kibana_url=os.environ.get("KIBANA_URL", "http://127.0.0.1:5601").rstrip("/"),
        service_url=os.environ.get("SERVICE_URL", "http://127.0.0.1:8000").rstrip("/"),
        rate=os.environ.get("CHECK_RATE", "5"),
        duration=os.environ.get("CHECK_DURATION", "20"),
        wait_timeout_s=int(os.environ.get("WAIT_TIMEOUT", "900")),
    )
    try:
        return checker.check()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
