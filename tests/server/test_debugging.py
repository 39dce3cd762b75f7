"""Debug detail under the real servers, both services (gunicorn + gevent workers; uvicorn's
manager + workers): user.id from a login token on the access line, LOG_LEVELS applied alike,
held DEBUG records released before the access line of a failed or slow request only, and a
bad LOG_LEVELS refused at start."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.test_gunicorn import BOTH, COMMANDS, ROOT, Server, _free_port, _start

CANARY_PASSWORD = "CANARY-pw-5e1f"


@pytest.fixture(scope="module", params=BOTH)
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """A service with 2 workers, DEBUG_ON_FAILURE, a 300 ms slow mark, and LOG_LEVELS that
    silence the step lines and write the HTTP clients' DEBUG lines (urllib3 under requests
    for the Flask service, httpcore under httpx for orders)."""
    yield from _serve(
        request.param,
        tmp_path_factory.mktemp(f"debugging-{request.param}"),
        {
            "DEBUG_ON_FAILURE": "1",
            "DEBUG_SLOW_MS": "300",
            "LOG_LEVELS": "trackstack.steps=WARNING,urllib3=DEBUG,httpcore=DEBUG",
        },
    )


def _serve(kind: str, folder: Path, settings: dict[str, str]) -> Iterator[Server]:
    port = _free_port()
    env = {
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "SERVICE_NAME": "debugging-test",
        "DB_LATENCY_MS": "5",
        **settings,
    }
    stdout, stderr = folder / "stdout.ndjson", folder / "stderr.ndjson"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = _start(kind, env, out, err)
    yield Server(port, process, stdout, stderr)
    process.terminate()
    process.wait(timeout=30)


def _call(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    data = json.dumps(body) if body is not None else None
    conn.request(
        method, path, body=data, headers={"Content-Type": "application/json"} | (headers or {})
    )
    response = conn.getresponse()
    payload = json.loads(response.read() or b"null")
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def _for(lines: list[dict[str, Any]], tracking_id: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("tracking_id") == tracking_id]


def test_login_token_puts_the_user_on_later_requests(server: Server) -> None:
    """POST /api/login returns a token; 6 later requests with it (fresh connections, whichever
    worker takes them) have user.id on the access line and the handler's lines; a request
    without it has none; the token and the password are never written."""
    status, _, body = _call(
        server.port, "POST", "/api/login", {"username": "ada", "password": CANARY_PASSWORD}
    )
    assert status == 200
    token = body["data"]["token"]
    ids = []
    for _ in range(6):
        status, headers, _ = _call(
            server.port, "GET", "/api/users", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 200
        ids.append(headers["x-tracking-id"])
    status, headers, _ = _call(server.port, "GET", "/api/users")
    anonymous = headers["x-tracking-id"]
    lines = server.settle()
    for tracking_id in ids:
        mine = _for(lines, tracking_id)
        access = [line for line in mine if line["event"]["dataset"] == "trackstack.access"]
        assert [line["user"]["id"] for line in access] == ["ada"]
        assert all(line["user"]["id"] == "ada" for line in mine), mine
    assert all("user" not in line for line in _for(lines, anonymous))
    text = json.dumps(lines)
    assert token not in text and CANARY_PASSWORD not in text


def test_log_levels_apply_under_this_server(server: Server) -> None:
    """LOG_LEVELS: the HTTP client's DEBUG lines of an outbound call are written without any
    debug header, under the request's ID; the step lines (INFO, under trackstack.steps'
    WARNING) are not."""
    status, headers, _ = _call(server.port, "GET", "/api/orders/levels-1")
    assert status == 200
    mine = _for(server.settle(), headers["x-tracking-id"])
    client_debug = [
        line
        for line in mine
        if line["log"]["level"] == "debug"
        and line["log"]["logger"].split(".")[0] in ("urllib3", "httpcore")
    ]
    assert client_debug, [line["message"] for line in mine]
    assert not [line for line in mine if line.get("labels", {}).get("step")]


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        pytest.param("/api/slow?ms=10", 200, None, id="ok-dropped"),
        pytest.param("/api/error", 500, "failure", id="500-written"),
        pytest.param("/api/slow?ms=400", 200, "slow", id="slow-written"),
    ],
)
def test_held_debug_is_released_before_the_access_line(
    server: Server, path: str, status: int, reason: str | None
) -> None:
    """DEBUG_ON_FAILURE: the handler's DEBUG line appears only for a 500 or a request slower
    than DEBUG_SLOW_MS, after a debug_released line and before the access line."""
    got, headers, _ = _call(server.port, "GET", path)
    assert got == status
    mine = _for(server.settle(), headers["x-tracking-id"])
    debug = [line for line in mine if line["log"]["level"] == "debug"]
    released = [line for line in mine if line.get("event.action") == "debug_released"]
    if reason is None:
        assert not debug and not released
        return
    assert debug and [line["labels"]["debug_reason"] for line in released] == [reason]
    datasets = [line["event"]["dataset"] for line in mine]
    access_at = datasets.index("trackstack.access")
    assert all(mine.index(line) < access_at for line in debug + released)


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        pytest.param("service", "urllib3=LOUD", "level must be one of", id="gunicorn-bad-level"),
        pytest.param("orders", "urllib3", "is not logger=LEVEL", id="uvicorn-bad-syntax"),
    ],
)
def test_a_bad_log_levels_stops_the_server_at_start(
    tmp_path: Path, kind: str, value: str, message: str
) -> None:
    """LOG_LEVELS that cannot be used: the server exits non-zero at start, naming it."""
    env = {"PORT": str(_free_port()), "WEB_CONCURRENCY": "1", "LOG_LEVELS": value}
    result = subprocess.run(
        COMMANDS[kind], cwd=ROOT, env=os.environ | env, capture_output=True, timeout=60
    )
    assert result.returncode != 0
    output = (result.stdout + result.stderr).decode()
    assert "LOG_LEVELS" in output and message in output, output[-2000:]
