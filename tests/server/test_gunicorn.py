"""The real servers, under concurrent keep-alive traffic and hostile input: ONE contract, one
table, run against both services. Every output line must be one JSON object.

* ``flask-gunicorn``: service/ as `make serve` starts it (gunicorn, gevent workers)
* ``fastapi-uvicorn``: orders/ as native/service.sh and compose start it (``python -m orders``:
  uvicorn's worker manager, asyncio)

The tests that check gunicorn's own answers (its 414/431 and broken-body handling) run
against the Flask service only. The last section runs both with DEBUG_ON_FAILURE and
LOG_LEVELS: user.id from a login token on the access line, LOG_LEVELS applied alike, held
DEBUG records released before the access line of a failed or slow request only, and a bad
LOG_LEVELS refused at start."""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from setup.project import REPO, PollTimeout, free_port, poll_until
from tests.helpers import parse_line, stop_process
from trackstack.tracecontext import TraceContext

DEBUG_TOKEN = "server-test-debug-token-42"
CANARY = "CANARY-7d41e0"


COMMANDS = {
    "service": [sys.executable, "-m", "service"],
    "orders": [sys.executable, "-m", "orders"],
}
BOTH = [pytest.param("service", id="flask-gunicorn"), pytest.param("orders", id="fastapi-uvicorn")]
FLASK_ONLY = pytest.mark.parametrize("server", ["service"], indirect=True)


def _start(kind: str, env: dict[str, str], stdout: Any, stderr: Any) -> subprocess.Popen[bytes]:
    """The service (``kind``) as its scripts start it; returns once /api/health answers."""
    process = subprocess.Popen(
        COMMANDS[kind], cwd=REPO, env=os.environ | env, stdout=stdout, stderr=stderr
    )

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} exited with {process.returncode}")  # not retried
        _get(int(env["PORT"]), "/api/health")
        return True

    try:  # a spawned uvicorn worker imports everything again: 60 s
        poll_until(answers, 60, f"{kind}'s /api/health", every_s=0.1, retry_on=(OSError,))
    except (PollTimeout, RuntimeError) as exc:
        stop_process(process)
        pytest.fail(f"{kind} did not start: {exc}")
    return process


def _wait_for_startup(path: Path, processes: int) -> None:
    """Until ``processes`` uvicorn workers logged their startup into ``path`` (they come up
    one by one; /api/health answers as soon as the first does)."""
    poll_until(
        lambda: path.read_bytes().count(b"Application startup complete.") >= processes,
        60,
        f"{processes} workers' startup lines",
    )


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    lines_cache: list[dict[str, Any]] = field(default_factory=list)

    def lines(self) -> list[dict[str, Any]]:
        """Every line written so far, parsed; fails on the first line that is not a JSON object."""
        parsed = []
        for path in (self.stdout, self.stderr):
            for number, raw in enumerate(path.read_bytes().splitlines(), 1):
                try:
                    parsed.append(parse_line(raw))
                except ValueError:
                    pytest.fail(f"{path.name}:{number} is not JSON: {raw[:300]!r}")
        return parsed

    def settle(self, seconds: float = 0.5) -> list[dict[str, Any]]:
        time.sleep(seconds)  # the writer thread and background jobs catch up
        return self.lines()


@pytest.fixture(scope="module", params=BOTH)
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """The service with 2 workers on a free loopback port, output captured to files."""
    kind = request.param
    folder = tmp_path_factory.mktemp(kind)
    port = free_port()
    env = {
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "DEBUG_LOG_TOKEN": DEBUG_TOKEN,
        "SERVICE_NAME": "server-test",
        "DB_LATENCY_MS": "20",
    }
    stdout, stderr = folder / "stdout.ndjson", folder / "stderr.ndjson"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = _start(kind, env, out, err)
    server = Server(port, process, stdout, stderr)
    yield server
    process.terminate()
    process.wait(timeout=30)


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            so_far = b"".join(chunks)
            if b"\r\n\r\n" in so_far and b"connection: close" not in so_far.lower():
                break
    return b"".join(chunks)


def _connection_worker(
    port: int, jobs: list[tuple[str, str | None]]
) -> list[tuple[str, str | None, str, int]]:
    """Send jobs over ONE keep-alive connection; returns (path, sent, echoed, status)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    results = []
    for path, client_id in jobs:
        headers = {"X-Tracking-ID": client_id} if client_id else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.getheader("Connection", "keep-alive").lower() != "close"
        results.append((path, client_id, response.getheader("X-Tracking-ID"), response.status))
    conn.close()
    return results


def test_concurrent_keepalive_requests_never_share_ids(server: Server) -> None:
    """240 concurrent keep-alive requests: each echoes and logs only its own ID."""
    connections, per_connection = 24, 10
    plans = []
    for c in range(connections):
        jobs = []
        for r in range(per_connection):
            n = c * per_connection + r
            path = random.choice(
                [
                    f"/api/slow?ms={n % 40 + 1}&n={n}",
                    f"/api/orders/o{n}",
                    "/api/users",
                    "/api/names",
                ]
            )
            jobs.append((path, f"client-{uuid.uuid4()}" if n % 2 == 0 else None))
        plans.append(jobs)
    with ThreadPoolExecutor(max_workers=connections) as pool:
        results = [
            r
            for batch in pool.map(lambda jobs: _connection_worker(server.port, jobs), plans)
            for r in batch
        ]

    assert len(results) == connections * per_connection
    assert all(status == 200 for *_, status in results)
    for _, sent, echoed, _ in results:
        assert echoed and (sent is None or echoed == sent)
    ids = [echoed for _, _, echoed, _ in results]
    assert len(set(ids)) == len(ids), "two requests were given the same tracking ID"

    lines = server.settle()
    by_id = {echoed: path for path, _, echoed, _ in results}
    access = [
        line
        for line in lines
        if line["event"]["dataset"] == "trackstack.access" and line.get("tracking_id") in by_id
    ]
    seen: dict[str, list[str]] = {}
    for line in access:
        seen.setdefault(line["tracking_id"], []).append(line["url"]["path"])
    for tracking_id, path in by_id.items():
        expected = [path.split("?")[0]] + (["/api/item"] if path.startswith("/api/orders/") else [])
        assert sorted(seen.get(tracking_id, [])) == sorted(expected), (
            f"access lines of {tracking_id}"
        )
    # App lines name their request (order id): each must carry that request's ID and no other.
    order_ids = {
        path.removeprefix("/api/orders/"): tid
        for tid, path in by_id.items()
        if path.startswith("/api/orders/")
    }
    lookups = [line for line in lines if line["message"].startswith("looking up order o")]
    assert len(lookups) == len(order_ids)
    for line in lookups:
        assert line["tracking_id"] == order_ids[line["message"].removeprefix("looking up order ")]
    app_ids = {
        line["tracking_id"]
        for line in lines
        if line["event"]["dataset"] == "trackstack.app" and "tracking_id" in line
    }
    assert app_ids <= set(ids)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"abc\x01def", id="control-byte"),
        pytest.param(b"abc\rdef", id="bare-cr"),
        pytest.param(b"abc\x00def", id="nul"),
        pytest.param(b'abc", "log.level": "CRITICAL', id="json-fragment"),
        pytest.param(b"<b>hi</b>", id="html"),
        pytest.param("caf\u00e9".encode(), id="non-ascii-utf8"),
        pytest.param(b"x" * 8000, id="8kb"),
        pytest.param(b"y" * 129, id="129"),
        pytest.param(b"back\\slash", id="backslash"),
    ],
)
def test_hostile_ids_over_a_raw_socket(server: Server, value: bytes) -> None:
    """Raw bytes in X-Tracking-ID: replaced or refused, never echoed, never logged."""
    before = len(server.lines())
    reply = _raw(
        server.port,
        b"GET /api/names HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Tracking-ID: "
        + value
        + b"\r\n\r\n",
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert value not in reply
    assert b"x-tracking-id: " in head.lower()
    assert json.loads(body)["code"] in (200, 400)
    new = server.settle(0.3)[before:]
    assert new, "the request left no line"
    text = json.dumps(new)
    assert value.decode("latin-1") not in json.dumps(new, ensure_ascii=False)
    assert json.dumps(value.decode("latin-1"))[1:-1] not in text


def test_protocol_errors_are_json_with_an_id(server: Server) -> None:
    """A request the server cannot parse still gets a JSON envelope with the three headers
    every answer carries (X-Tracking-ID, traceparent, X-DateTime), and one access line with
    that ID and trace."""
    before = len(server.settle(0.3))
    reply = _raw(server.port, b"GET /api/names HTTP/1.1\r\nHost: t\r\nBad Header Name: 1\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    envelope = json.loads(body)
    assert envelope["code"] == 400 and envelope["tracking_id"]
    fields = [line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:]]
    headers = {name.lower(): value for name, value in fields}
    assert headers["x-tracking-id"] == envelope["tracking_id"]
    trace = TraceContext.for_request(headers["traceparent"])  # a child of it: same trace
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", headers["x-datetime"])
    access = [
        line
        for line in server.settle(0.3)[before:]
        if line.get("event.action") == "http_request"
        and line.get("tracking_id") == envelope["tracking_id"]
    ]
    assert len(access) == 1, access
    assert access[0]["trace.id"] == trace.trace_id


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_secret_canaries_stay_out_of_the_output(server: Server, debug: bool) -> None:
    """Canaries in headers, query, JSON body and exception text: zero occurrences."""
    headers = {
        "Authorization": f"Bearer {CANARY}",
        "Cookie": f"sid={CANARY}",
        "Content-Type": "application/json",
    }
    if debug:
        headers |= {"X-Debug-Log": "1", "X-Debug-Token": DEBUG_TOKEN}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(
        "POST",
        f"/api/login?api_key={CANARY}",
        body=json.dumps({"username": "ada", "password": CANARY}),
        headers=headers,
    )
    login = conn.getresponse()
    token = json.loads(login.read())["data"]["token"]
    assert (login.getheader("X-Debug-Log") == "on") is debug
    conn.request("GET", f"/api/error?detail=password%3D{CANARY}", headers=headers)
    conn.getresponse().read()
    conn.close()
    text = json.dumps(server.settle(0.3))
    assert CANARY not in text and token not in text and DEBUG_TOKEN not in text


def test_debug_only_for_the_request_that_asked(server: Server) -> None:
    """With the token, DEBUG lines appear for that request's ID and no other."""
    _get(
        server.port,
        "/api/users",
        {"X-Debug-Log": "1", "X-Debug-Token": DEBUG_TOKEN, "X-Tracking-ID": "dbg-yes"},
    )
    _get(
        server.port,
        "/api/users",
        {"X-Debug-Log": "1", "X-Debug-Token": "nope", "X-Tracking-ID": "dbg-bad"},
    )
    _get(server.port, "/api/users", {"X-Tracking-ID": "dbg-no"})
    lines = server.settle(0.3)
    debug_ids = {line.get("tracking_id") for line in lines if line["log.level"] == "debug"}
    assert "dbg-yes" in debug_ids and not debug_ids & {"dbg-bad", "dbg-no"}


def test_every_line_has_the_required_fields(server: Server) -> None:
    """Every line has the docs/DESIGN.md required fields, and event.id never repeats."""
    lines = server.lines()
    assert len(lines) > 100
    for line in lines:
        assert {"@timestamp", "log.level", "message"} <= line.keys()
        assert line["service"]["name"] == "server-test"
        assert line["event"]["dataset"] in (
            "trackstack.app",
            "trackstack.access",
            "trackstack.server",
        )
    event_ids = [line["event"]["id"] for line in lines]
    assert len(event_ids) == len(set(event_ids))


@pytest.mark.parametrize("kind", BOTH)
def test_a_full_stdout_pipe_does_not_stall_the_workers(kind: str) -> None:
    """Nobody reads stdout until 300 requests are answered: writes wait in trackstack's writer
    thread, the greenlets (gevent) / the event loop (asyncio) don't."""
    port = free_port()
    env = {"PORT": str(port), "WEB_CONCURRENCY": "1", "SERVICE_NAME": "stall-test"}
    process = _start(kind, env, subprocess.PIPE, subprocess.STDOUT)
    try:
        # ~300 x 2 lines x ~600 bytes = ~360 KB, several times a pipe's 64 KiB buffer.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        started = time.monotonic()
        for n in range(300):
            conn.request("GET", f"/api/names?n={n}", headers={"X-Tracking-ID": f"stall-{n}"})
            response = conn.getresponse()
            response.read()
            assert response.status == 200
        elapsed = time.monotonic() - started
        conn.close()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert elapsed < 15, f"300 requests took {elapsed:.1f}s with stdout unread"
    lines = [parse_line(raw) for raw in output.splitlines()]
    names = [line for line in lines if line.get("message") == "listing 5 names"]
    assert {line["tracking_id"] for line in names} == {f"stall-{n}" for n in range(300)}


@pytest.mark.parametrize("kind", BOTH)
def test_rename_rotation_with_sigusr1_loses_nothing(tmp_path: Path, kind: str) -> None:
    """LOG_FILE renamed away 10 times, SIGUSR1 each time: every line is in exactly one file."""
    import signal
    import threading

    port = free_port()
    log_file = tmp_path / "service.ndjson"
    env = {"PORT": str(port), "WEB_CONCURRENCY": "2", "LOG_FILE": str(log_file)}
    process = _start(kind, env, subprocess.DEVNULL, subprocess.DEVNULL)
    if kind == "orders":
        _wait_for_startup(log_file, 2)
    sent: list[str] = []
    stop = threading.Event()

    def traffic() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while not stop.is_set():
            tracking_id = f"rot-{len(sent)}"
            conn.request("GET", "/api/names", headers={"X-Tracking-ID": tracking_id})
            conn.getresponse().read()
            sent.append(tracking_id)
        conn.close()

    try:
        sender = threading.Thread(target=traffic)
        sender.start()
        for n in range(1, 11):
            time.sleep(0.3)
            log_file.rename(tmp_path / f"service.ndjson.{n}")
            process.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        while len(sent) <= 100 and sender.is_alive():  # enough lines to count on a busy machine
            time.sleep(0.1)
        stop.set()
        sender.join()
    finally:
        process.terminate()
        process.wait(timeout=30)
    files = sorted(tmp_path.glob("service.ndjson*"))
    assert len(files) == 11
    lines = [parse_line(raw) for path in files for raw in path.read_bytes().splitlines()]
    access = [line["tracking_id"] for line in lines if line.get("message") == "GET /api/names 200"]
    assert sorted(access) == sorted(sent) and len(sent) > 100
    reopened = [line for line in lines if line.get("event.action") == "log_reopened"]
    assert len(reopened) >= 10 * 3  # the master (manager) and both workers, every time


def _exchange(port: int, request: bytes, close_write: bool = False) -> bytes:
    """Send raw bytes, optionally end our side (EOF), read until the server closes or 3 s."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(request)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
                head, _, body = reply.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if length is not None and len(body) >= length:
                    break
        except TimeoutError:
            pass
    return reply


POST = b"POST /api/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
# (raw request, end our side after sending?, status, dataset of the WARNING it must cause)
ANSWERED_BY_GUNICORN = [
    pytest.param(b"GARBAGE\r\n\r\n", False, 400, id="invalid-request-line"),
    pytest.param(b"G@T / HTTP/1.1\r\nHost: t\r\n\r\n", False, 400, id="invalid-method"),
    pytest.param(b"GET / HTTP/9.9\r\nHost: t\r\n\r\n", False, 400, id="invalid-http-version"),
    pytest.param(b"GET / HTTP/1.1\r\nBad Header: 1\r\n\r\n", False, 400, id="invalid-header-name"),
    pytest.param(
        b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", False, 414, id="request-line-too-long"
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n", False, 431, id="header-too-large"
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n",
        False,
        431,
        id="too-many-headers",
    ),
    pytest.param(POST + b"Transfer-Encoding: gzip\r\n\r\n", False, 400, id="transfer-coding-gzip"),
]
CLIENT_BODY_ERRORS = [
    pytest.param(
        POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        False,
        400,
        id="chunk-size-not-hex",
    ),
    pytest.param(
        POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        False,
        400,
        id="chunk-missing-terminator",
    ),
    pytest.param(
        POST + b"Transfer-Encoding: chunked\r\n\r\n5;a\x01b\r\nhello\r\n0\r\n\r\n",
        False,
        400,
        id="chunk-extension-invalid",
    ),
    pytest.param(
        POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhel", True, 400, id="chunked-body-cut-off"
    ),
    pytest.param(POST + b'Content-Length: 100\r\n\r\n{"username":', True, 400, id="body-shorter"),
]


@FLASK_ONLY
@pytest.mark.parametrize(("request_bytes", "close_write", "status"), ANSWERED_BY_GUNICORN)
def test_gunicorns_own_answers_have_one_access_line(
    server: Server, request_bytes: bytes, close_write: bool, status: int
) -> None:
    """A request gunicorn refuses itself: JSON envelope with an ID, and exactly one access line
    with its status, client.ip and that ID."""
    before = len(server.lines())
    reply = _exchange(server.port, request_bytes, close_write)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d" % status), head[:80]
    tracking_id = json.loads(body)["tracking_id"]
    assert f"X-Tracking-ID: {tracking_id}".encode() in head
    new = server.settle(0.3)[before:]
    access = [line for line in new if line["event"]["dataset"] == "trackstack.access"]
    assert [line.get("tracking_id") for line in access].count(tracking_id) == 1, access
    access = [line for line in access if line.get("tracking_id") == tracking_id]
    assert access[0]["http"]["response"]["status_code"] == status
    assert access[0]["client"]["ip"] == "127.0.0.1"
    assert access[0]["tracking_id"] == tracking_id
    assert not [line for line in new if line["log"]["level"] == "error"]
    assert not [line for line in access if line["http"]["response"]["status_code"] == 0]


@FLASK_ONLY
@pytest.mark.parametrize(("request_bytes", "close_write", "status"), CLIENT_BODY_ERRORS)
def test_client_body_errors_are_400_with_a_warning(
    server: Server, request_bytes: bytes, close_write: bool, status: int
) -> None:
    """A broken body is the client's fault: 400 envelope, a WARNING, no ERROR, one access line."""
    before = len(server.lines())
    reply = _exchange(server.port, request_bytes, close_write)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head[:80]
    envelope = json.loads(body)
    assert envelope["code"] == 400
    tracking_id = envelope["tracking_id"]
    new = [line for line in server.settle(0.3)[before:] if line.get("tracking_id") == tracking_id]
    levels = [line["log"]["level"] for line in new]
    assert "warning" in levels and "error" not in levels
    access = [line for line in new if line["event"]["dataset"] == "trackstack.access"]
    assert [line["http"]["response"]["status_code"] for line in access] == [status]


# --- debug detail: user.id from a login token, LOG_LEVELS, held DEBUG records ------------------

CANARY_PASSWORD = "CANARY-pw-5e1f"


@pytest.fixture(scope="module", params=BOTH)
def debug_server(
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
    port = free_port()
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


def test_login_token_puts_the_user_on_later_requests(debug_server: Server) -> None:
    """POST /api/login returns a token; 6 later requests with it (fresh connections, whichever
    worker takes them) have user.id on the access line and the handler's lines; a request
    without it has none; the token and the password are never written."""
    status, _, body = _call(
        debug_server.port, "POST", "/api/login", {"username": "ada", "password": CANARY_PASSWORD}
    )
    assert status == 200
    token = body["data"]["token"]
    ids = []
    for _ in range(6):
        status, headers, _ = _call(
            debug_server.port, "GET", "/api/users", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 200
        ids.append(headers["x-tracking-id"])
    status, headers, _ = _call(debug_server.port, "GET", "/api/users")
    anonymous = headers["x-tracking-id"]
    lines = debug_server.settle()
    for tracking_id in ids:
        mine = _for(lines, tracking_id)
        access = [line for line in mine if line["event"]["dataset"] == "trackstack.access"]
        assert [line["user"]["id"] for line in access] == ["ada"]
        assert all(line["user"]["id"] == "ada" for line in mine), mine
    assert all("user" not in line for line in _for(lines, anonymous))
    text = json.dumps(lines)
    assert token not in text and CANARY_PASSWORD not in text


def test_log_levels_apply_under_this_server(debug_server: Server) -> None:
    """LOG_LEVELS: the HTTP client's DEBUG lines of an outbound call are written without any
    debug header, under the request's ID; the step lines (INFO, under trackstack.steps'
    WARNING) are not."""
    status, headers, _ = _call(debug_server.port, "GET", "/api/orders/levels-1")
    assert status == 200
    mine = _for(debug_server.settle(), headers["x-tracking-id"])
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
    debug_server: Server, path: str, status: int, reason: str | None
) -> None:
    """DEBUG_ON_FAILURE: the handler's DEBUG line appears only for a 500 or a request slower
    than DEBUG_SLOW_MS, after a debug_released line and before the access line."""
    got, headers, _ = _call(debug_server.port, "GET", path)
    assert got == status
    mine = _for(debug_server.settle(), headers["x-tracking-id"])
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
    "path",
    [
        pytest.param("/api/users", id="ok"),
        pytest.param("/api/error", id="500-with-released-debug"),
        pytest.param("/api/slow?ms=400", id="slow-with-released-debug"),
    ],
)
def test_every_line_of_a_request_carries_its_span(debug_server: Server, path: str) -> None:
    """The access line and the debug_released line, written after the adapter reset its
    context under gunicorn, carry the request's trace.id and span.id like its other lines
    (the timeline nests lines by span: one without it is drawn loose)."""
    _, headers, _ = _call(debug_server.port, "GET", path)
    trace_id, span_id = headers["traceparent"].split("-")[1:3]
    mine = _for(debug_server.settle(), headers["x-tracking-id"])
    assert any(line["event"]["dataset"] == "trackstack.access" for line in mine)
    spans = {
        (line.get("trace", {}).get("id"), line.get("span", {}).get("id"), line["message"])
        for line in mine
    }
    assert {(trace, span) for trace, span, _ in spans} == {(trace_id, span_id)}, spans


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
    env = {"PORT": str(free_port()), "WEB_CONCURRENCY": "1", "LOG_LEVELS": value}
    result = subprocess.run(
        COMMANDS[kind], cwd=REPO, env=os.environ | env, capture_output=True, timeout=60
    )
    assert result.returncode != 0
    output = (result.stdout + result.stderr).decode()
    assert "LOG_LEVELS" in output and message in output, output[-2000:]


# One member per kind of check the settings make (trackstack/settings.py, service/config.py),
# and the numbers the servers themselves take from the environment (gunicorn.conf.py,
# orders/main.py), which used to end in int()'s traceback.
BAD_SETTINGS = [
    pytest.param(
        "LOG_LEVELS", "service.downstream=LOUD", "level must be one of", id="levels-level"
    ),
    pytest.param("LOG_LEVELS", "urllib3", "is not logger=LEVEL", id="levels-shape"),
    pytest.param("LOG_LEVEL", "CHATTY", "is not a logging level", id="level"),
    pytest.param("DEBUG_SAMPLE_RATE", "2", "must be between 0 and 1", id="range"),
    pytest.param("LOG_MAX_LINE_BYTES", "lots", "is not a number", id="number"),
    pytest.param("TRACKING_ID_POLICY", "trust", "must be one of", id="choice"),
    pytest.param("FAULT_ERROR_RATE", "-1", "must be between 0 and 1", id="demo-setting"),
    # WEB_CONCURRENCY: gunicorn's own config module reads it with int() when it is imported,
    # before any config file runs; python -m service reads it first (service/__main__.py).
    pytest.param("WEB_CONCURRENCY", "two", "is not a number", id="workers"),
    pytest.param("WEB_CONCURRENCY", "0", "must be between 1 and", id="workers-range"),
    pytest.param("PORT", "abc", "is not a number", id="server-port"),
    pytest.param("PORT", "70000", "must be between 1 and 65535", id="server-port-range"),
    pytest.param("PORT", "2.5", "must be a whole number", id="server-port-fraction"),
    pytest.param("LOG_FILE", "/nonexistent/dir/x.log", "cannot be opened", id="log-file"),
    pytest.param("WEB_CONCURRENCY", "2.5", "must be a whole number", id="workers-fraction"),
]


# Numbers only one of the two servers reads.
ONE_SERVER_ONLY = [
    pytest.param("service", "GEVENT_CONNECTIONS", "many", "is not a number", id="gevent-conns"),
    pytest.param("orders", "LOG_DIR", "/proc/trackstack-logs", "cannot be used", id="log-dir"),
]


@pytest.mark.parametrize(
    ("kind", "name", "value", "says"),
    [
        pytest.param(kind, *row.values, id=f"{row.id}-{kind}")
        for row in BAD_SETTINGS
        for kind in ("service", "orders")
    ]
    + ONE_SERVER_ONLY,
)
def test_a_bad_setting_stops_the_server_with_one_json_line(
    kind: str, name: str, value: str, says: str
) -> None:
    """Startup fails with status 1; stderr is one ECS JSON line (it goes where the log lines
    go) naming the variable and the rule; no traceback."""
    port = value if name == "PORT" else str(free_port())
    env = os.environ | {"PORT": port, name: value, "SERVICE_NAME": f"trackstack-{kind}"}
    result = subprocess.run(COMMANDS[kind], cwd=REPO, env=env, capture_output=True, timeout=60)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr, stderr
    (line,) = stderr.strip().splitlines()
    record = json.loads(line)
    assert record["log.level"] == "error" and record["error.type"] == "ConfigError"
    assert record["process.pid"] > 0 and record["event.id"] and record["log.logger"]
    assert record["service.name"] == f"trackstack-{kind}"
    assert record["message"].startswith("configuration error: "), record
    assert name in record["message"] and says in record["message"], record


@pytest.mark.parametrize(
    ("value", "workers"),
    [
        pytest.param("", 2, id="blank"),
        pytest.param("2.0", 2, id="point-zero"),
        pytest.param(" 3 ", 3, id="spaces"),
    ],
)
def test_workers_gunicorn_itself_could_not_read_still_start(
    tmp_path: Path, value: str, workers: int
) -> None:
    """WEB_CONCURRENCY that the service's rule takes but gunicorn's int() refuses at import
    ('' and '2.0' ended in gunicorn's traceback): python -m service starts that many."""
    env = {"PORT": str(free_port()), "WEB_CONCURRENCY": value}
    with (tmp_path / "out").open("wb") as out:
        process = _start("service", env, out, subprocess.STDOUT)
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    try:
        poll_until(lambda: len(children.read_text().split()) >= workers, 30, "the workers")
        time.sleep(0.5)  # none more come
        assert len(children.read_text().split()) == workers
    finally:
        stop_process(process)
    assert b"Traceback" not in (tmp_path / "out").read_bytes()


# The last lines each server writes when SIGTERM stops it: every process's own farewell.
LAST_LINES = {
    "service": [b"Shutting down: Master", b"Worker exiting"],
    "orders": [b"Application shutdown complete.", b"Finished server process"],
}


@pytest.mark.parametrize("kind", ["service", "orders"])
def test_sigterm_stops_the_server_with_its_last_lines_written(tmp_path: Path, kind: str) -> None:
    """SIGTERM (what native-down, docker stop and an orchestrator send): every process's
    shutdown lines are written. uvicorn re-raises the SIGTERM it handled once it is done,
    and its default action used to end each worker before its queued lines were written."""
    env = {"PORT": str(free_port()), "WEB_CONCURRENCY": "2"}
    with (tmp_path / "out").open("wb") as out:
        process = _start(kind, env, out, subprocess.STDOUT)
        if kind == "orders":
            _wait_for_startup(tmp_path / "out", 2)
        process.terminate()
        process.wait(timeout=60)
    output = (tmp_path / "out").read_bytes()
    for raw in output.splitlines():
        json.loads(raw)  # every line stays one JSON object
    master_line, worker_line = LAST_LINES[kind]
    assert output.count(worker_line) == 2, output[-3000:]
    if kind == "service":
        assert output.count(master_line) == 1, output[-3000:]
    else:
        assert output.count(master_line) == 2, output[-3000:]
