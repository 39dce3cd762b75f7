"""The real servers, under concurrent keep-alive traffic and hostile input: ONE contract, one
table, run against both services. Every output line must be one JSON object.

* ``flask-gunicorn``: service/ as `make serve` starts it (gunicorn, gevent workers)
* ``fastapi-uvicorn``: orders/ as native/service.sh and compose start it (``python -m orders``:
  uvicorn's worker manager, asyncio)

The tests that check gunicorn's own answers (its 414/431 and broken-body handling) run
against the Flask service only."""

from __future__ import annotations

import http.client
import json
import os
import random
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

from setup.project import REPO
from tests.helpers import free_port, parse_line

DEBUG_TOKEN = "server-test-debug-token-42"
CANARY = "CANARY-7d41e0"


COMMANDS = {
    "service": [sys.executable, "-m", "gunicorn", "-c", "service/gunicorn.conf.py"],
    "orders": [sys.executable, "-m", "orders"],
}
BOTH = [pytest.param("service", id="flask-gunicorn"), pytest.param("orders", id="fastapi-uvicorn")]
FLASK_ONLY = pytest.mark.parametrize("server", ["service"], indirect=True)


def _start(kind: str, env: dict[str, str], stdout: Any, stderr: Any) -> subprocess.Popen[bytes]:
    """The service (``kind``) as its scripts start it; returns once /api/health answers."""
    process = subprocess.Popen(
        COMMANDS[kind], cwd=REPO, env=os.environ | env, stdout=stdout, stderr=stderr
    )
    deadline = time.monotonic() + 60  # a spawned uvicorn worker imports everything again
    while True:
        try:
            _get(int(env["PORT"]), "/api/health")
            return process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                _stop(process)
                pytest.fail(f"{kind} did not start")
            time.sleep(0.1)


def _wait_for_startup(path: Path, processes: int) -> None:
    """Until ``processes`` uvicorn workers logged their startup into ``path`` (they come up
    one by one; /api/health answers as soon as the first does)."""
    deadline = time.monotonic() + 60
    while path.read_bytes().count(b"Application startup complete.") < processes:
        if time.monotonic() > deadline:
            pytest.fail(f"{processes} workers did not start")
        time.sleep(0.2)


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
    """A request gunicorn cannot parse still gets a JSON envelope and an X-Tracking-ID."""
    reply = _raw(server.port, b"GET /api/names HTTP/1.1\r\nHost: t\r\nBad Header Name: 1\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    envelope = json.loads(body)
    assert envelope["code"] == 400 and envelope["tracking_id"]
    assert f"x-tracking-id: {envelope['tracking_id']}".encode() in head.lower()


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


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM first: a SIGKILLed uvicorn manager leaves its workers running, orphaned."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
