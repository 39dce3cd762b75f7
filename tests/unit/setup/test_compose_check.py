"""setup/compose_check.py (`make compose-check`) against fakes of Docker, make, Kibana and the
service: it runs its steps in order and stops at the first failure with a message naming it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from setup import compose_check as check
from setup.project import REPO

KIBANA = "http://kibana.test"
HITS = {
    "hits": {
        "hits": [
            {"_source": {"service": {"name": "trackstack-service"}}},
            {"_source": {"service": {"name": "trackstack-orders"}}},
            {"_source": {"service": {"name": "trackstack-service"}}},
        ]
    }
}


def healthy_kibana() -> dict[tuple[str, str], tuple[int, Any]]:
    """What a set-up Kibana answers, by (method, path without the query string)."""
    return {
        ("GET", "/api/status"): (
            200,
            {"version": {"number": "9.1.0"}, "status": {"overall": {"level": "available"}}},
        ),
        ("GET", "/api/data_views/data_view/trackstack-logs"): (
            200,
            {"data_view": {"title": "trackstack-logs-*", "timeFieldName": "@timestamp"}},
        ),
        ("GET", "/api/saved_objects/search/trackstack-requests-by-tracking-id"): (
            200,
            {"attributes": {"title": "Requests by tracking_id"}},
        ),
        ("GET", "/api/saved_objects/dashboard/trackstack-overview"): (
            200,
            {
                "attributes": {"title": "trackstack overview"},
                "references": [
                    {"type": "visualization", "id": "trackstack-status-mix", "name": "p1"},
                    {"type": "index-pattern", "id": "trackstack-logs", "name": "ref"},
                ],
            },
        ),
        ("GET", "/api/saved_objects/visualization/trackstack-status-mix"): (
            200,
            {"attributes": {"title": "Status mix"}},
        ),
        ("POST", "/api/console/proxy"): (200, HITS),
    }


@dataclass
class Fakes:
    kibana: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=healthy_kibana)
    failing_command: str | None = None  # "compose" (version), "info", "up", "load", "verify"
    commands: list[list[str]] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    now: float = 0.0
    sent: list[tuple[str, str]] = field(default_factory=list)

    def http(self, method: str, url: str, body: Any) -> tuple[int, Any]:
        assert url.startswith(KIBANA), url
        path = url.removeprefix(KIBANA).split("?")[0]
        if path == "/api/console/proxy":
            assert body["query"] == {"term": {"tracking_id": "id-from-service"}}
            assert "path=%2Ftrackstack-logs-%2A%2F_search" in url
        return self.kibana.get((method, path), (404, {"statusCode": 404}))

    def run(self, argv: list[str]) -> int:
        self.commands.append(argv)
        word = "up" if argv[:3] == ["docker", "compose", "up"] else argv[1]
        return 1 if word == self.failing_command else 0

    def send(self, url: str, tracking_id: str) -> str:
        self.sent.append((url, tracking_id))
        return "id-from-service"

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def checker(self) -> Any:
        return check.Checker(
            http=self.http,
            run=self.run,
            send=self.send,
            kibana_url=KIBANA,
            service_url="http://service.test",
            sleep=self.sleep,
            clock=lambda: self.now,
            say=self.said.append,
        )


def test_all_steps_pass_in_order() -> None:
    """up --wait, make load and make verify through compose's loadgen, then Kibana: exit 0."""
    fakes = Fakes()
    assert fakes.checker().check() == 0
    loadgen = "LOADGEN=docker compose --profile load run --rm --no-deps loadgen python -m loadgen"
    assert fakes.commands == [
        ["docker", "compose", "version"],
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        ["docker", "compose", "up", "-d", "--build", "--wait", "--wait-timeout", "900"],
        ["make", "load", "RATE=5", "DURATION=20", loadgen],
        ["make", "verify", loadgen],
    ]
    assert fakes.sent == [("http://service.test/api/orders/42", fakes.sent[0][1])]
    assert fakes.said[-1].startswith("PASSED")
    assert sum(": ok" in line for line in fakes.said) == 7


def _broken(key: tuple[str, str], answer: tuple[int, Any] | None) -> Fakes:
    fakes = Fakes()
    if answer is None:
        del fakes.kibana[key]
    else:
        fakes.kibana[key] = answer
    return fakes


DASHBOARD = ("GET", "/api/saved_objects/dashboard/trackstack-overview")
FAILURES = [
    pytest.param(Fakes(failing_command="compose"), 1, "Compose v2 is missing", id="no-compose"),
    pytest.param(Fakes(failing_command="info"), 1, "no Docker engine answers", id="no-engine"),
    pytest.param(Fakes(failing_command="up"), 1, "docker compose up --wait", id="up-fails"),
    pytest.param(Fakes(failing_command="load"), 2, "load run failed", id="load-fails"),
    pytest.param(Fakes(failing_command="verify"), 3, "make verify found", id="verify-fails"),
    pytest.param(
        _broken(("GET", "/api/status"), (401, {})), 4, "answered 401", id="kibana-login-refused"
    ),
    pytest.param(
        _broken(("GET", "/api/status"), (200, {"status": {"overall": {"level": "degraded"}}})),
        4,
        "'degraded'",
        id="kibana-degraded",
    ),
    pytest.param(
        _broken(("GET", "/api/data_views/data_view/trackstack-logs"), None),
        5,
        "no data view 'trackstack-logs'",
        id="data-view-missing",
    ),
    pytest.param(
        _broken(
            ("GET", "/api/data_views/data_view/trackstack-logs"),
            (200, {"data_view": {"title": "logs-*", "timeFieldName": "@timestamp"}}),
        ),
        5,
        "is on 'logs-*'",
        id="data-view-wrong-pattern",
    ),
    pytest.param(
        _broken(("GET", "/api/saved_objects/search/trackstack-requests-by-tracking-id"), None),
        6,
        "no search 'trackstack-requests-by-tracking-id'",
        id="saved-search-missing",
    ),
    pytest.param(_broken(DASHBOARD, None), 6, "no dashboard", id="dashboard-missing"),
    pytest.param(
        _broken(("GET", "/api/saved_objects/visualization/trackstack-status-mix"), None),
        6,
        "no visualization 'trackstack-status-mix'",
        id="dashboard-panel-missing",
    ),
    pytest.param(
        _broken(
            ("POST", "/api/console/proxy"), (200, {"hits": {"hits": HITS["hits"]["hits"][:1]}})
        ),
        7,
        "found 1 lines from ['trackstack-service']",
        id="search-lacks-orders-lines",
    ),
    pytest.param(
        _broken(("POST", "/api/console/proxy"), (200, {"hits": {"hits": []}})),
        7,
        "found 0 lines",
        id="search-finds-nothing",
    ),
    pytest.param(
        _broken(("POST", "/api/console/proxy"), (403, {})), 7, "answered 403", id="search-refused"
    ),
]


@pytest.mark.parametrize(("fakes", "step", "message"), FAILURES)
def test_first_failure_stops_with_a_clear_message(fakes: Fakes, step: int, message: str) -> None:
    """Exit 1; the last line names the failed step and says what was wrong; no later step ran."""
    assert fakes.checker().check() == 1
    assert fakes.said[-1].startswith(f"FAILED at step {step} "), fakes.said[-1]
    assert message in fakes.said[-1]
    assert sum(": ok" in line for line in fakes.said) == step - 1


def test_search_waits_for_the_lines() -> None:
    """Lines searchable a few seconds after the request still pass (polled, not asked once)."""
    fakes = Fakes()
    answers = [(200, {"hits": {"hits": []}})] * 3 + [(200, HITS)]
    http = fakes.http

    def late(method: str, url: str, body: Any) -> tuple[int, Any]:
        return answers.pop(0) if "console/proxy" in url else http(method, url, body)

    fakes.http = late  # type: ignore[method-assign]
    assert fakes.checker().check() == 0
    assert fakes.now == 3.0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("ELASTIC_PASSWORD=s3cret\n", "s3cret", id="present"),
        pytest.param("# nothing\n", None, id="missing-key"),
        pytest.param(None, None, id="no-file"),
    ],
)
def test_read_password(tmp_path: Path, content: str | None, expected: str | None) -> None:
    """The elastic password from elastic.env, or a CheckFailed naming the file."""
    if content is not None:
        (tmp_path / "elastic.env").write_text(content)
    if expected is None:
        with pytest.raises(check.CheckFailed, match=r"elastic\.env"):
            check.read_password(tmp_path)
    else:
        assert check.read_password(tmp_path) == expected


def test_help_prints_the_steps_and_settings_and_runs_nothing() -> None:
    """`python3 -m setup.compose_check --help` answers, as any command does, instead of
    starting the check (it used to run step 1)."""
    result = subprocess.run(
        [sys.executable, "-m", "setup.compose_check", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout and "Environment: COMPOSE" in result.stdout
    assert "compose-check: $" not in result.stdout + result.stderr
