"""Tests for service/downstream.py: headers carried, one log line, stale keep-alive retried."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests

from service.downstream import Downstream
from trackstack import TraceContext, bound

BODY = b'{"data": {"ok": true}}'


@pytest.fixture
def flaky_server() -> Iterator[tuple[int, list[bytes]]]:
    """Answers a connection's first request with keep-alive, then closes it on the next one
    without a response: the race a keep-alive timer causes."""
    listener = socket.create_server(("127.0.0.1", 0))
    requests_seen: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                first = conn.recv(65536)
                requests_seen.append(first)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n%s" % (len(BODY), BODY)
                )
                conn.recv(65536)  # the next request on this connection: hang up unanswered

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], requests_seen
    listener.close()


def test_stale_keepalive_connection_is_retried(flaky_server, log_lines) -> None:
    """A GET on a connection the server just closed is sent again, and succeeds."""
    port, seen = flaky_server
    downstream = Downstream(f"http://127.0.0.1:{port}", timeout_s=5)
    with bound("ds-1", TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")):
        assert downstream.get_json("/api/item") == {"data": {"ok": True}}
        assert downstream.get_json("/api/item") == {"data": {"ok": True}}
    assert len(seen) == 2, "the second call went out on a new connection"
    assert all(b"X-Tracking-ID: ds-1" in raw for raw in seen)
    assert all(b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-" in raw for raw in seen)
    calls = [line for line in log_lines() if line.get("event.action") == "dependency_call"]
    assert [line["http.response.status_code"] for line in calls] == [200, 200]
    assert all(line["tracking_id"] == "ds-1" for line in calls)


def test_a_read_timeout_is_not_retried(log_lines) -> None:
    """A dependency slower than the timeout is asked once, not twice."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)  # read nothing, answer nothing: the client times out

    threading.Thread(target=accept, daemon=True).start()
    downstream = Downstream(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout_s=0.3)
    with bound("ds-2"), pytest.raises(requests.exceptions.ReadTimeout):
        downstream.get_json("/api/item")
    listener.close()
    assert len(accepted) == 1
    for conn in accepted:
        conn.close()
