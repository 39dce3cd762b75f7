"""The public API under hostile input (README "Hostile input"): each row has a documented
behaviour, and no exception reaches the application."""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import threading
import time
from typing import Any

import pytest

from trackstack import Settings, bound, is_valid
from trackstack.asgi import TrackingMiddleware as AsgiMiddleware
from trackstack.ecs import EcsFormatter
from trackstack.settings import ConfigError, whole
from trackstack.writer import LineWriterHandler
from trackstack.wsgi import TrackingMiddleware as WsgiMiddleware


def _wsgi_call(environ_extra: dict[str, Any]) -> tuple[dict[str, str], list[bytes]]:
    seen: dict[str, str] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen.update(headers)

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/"} | environ_extra
    body = list(WsgiMiddleware(app)(environ, start_response))
    return seen, body


# WSGI servers hand header values over as latin-1 strings: every byte is one character.
HOSTILE_HEADERS = [
    pytest.param({"HTTP_X_TRACKING_ID": "x" * 1_000_000}, id="id-1MB"),
    pytest.param({"HTTP_X_TRACKING_ID": "caf\xe9\xff\xfe"}, id="id-not-utf8"),
    pytest.param({"HTTP_X_TRACKING_ID": "a\r\nSet-Cookie: x=1"}, id="id-crlf-injection"),
    pytest.param({"HTTP_X_TRACKING_ID": "\x00"}, id="id-nul"),
    pytest.param(
        {"HTTP_X_REQUEST_ID": "bad id", "HTTP_X_CORRELATION_ID": "ok"}, id="fallback-invalid"
    ),
    pytest.param({"HTTP_TRACEPARENT": "00-" + "a" * 10_000}, id="traceparent-10KB"),
    pytest.param({"HTTP_TRACEPARENT": "00-\xff\xfe-\x00-01"}, id="traceparent-not-utf8"),
    pytest.param(
        {
            "HTTP_TRACESTATE": "k=" + "v" * 100_000,
            "HTTP_TRACEPARENT": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        },
        id="tracestate-100KB",
    ),
]


@pytest.mark.parametrize("environ", HOSTILE_HEADERS)
def test_wsgi_hostile_headers_get_a_new_id_and_a_valid_trace(environ: dict[str, Any]) -> None:
    """Invalid, oversized or non-UTF-8 ID/trace headers: a new valid ID, a well-formed
    traceparent, the app still answers, nothing raw is echoed."""
    headers, body = _wsgi_call(environ)
    assert body == [b"ok"]
    assert is_valid(headers["X-Tracking-ID"]) and headers["X-Tracking-ID"] not in environ.values()
    assert len(headers["traceparent"]) == 55
    assert all("\r" not in v and "\n" not in v for v in headers.values())


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\xff\xfe\xfd", id="not-utf8"),
        pytest.param(b"x" * 200_000, id="200KB"),
        pytest.param(b"a b", id="space"),
    ],
)
def test_asgi_hostile_id_bytes_get_a_new_id(raw: bytes) -> None:
    """ASGI headers are raw bytes: anything invalid is replaced, never decoded into a line."""
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"x-tracking-id", raw)]}
    asyncio.run(AsgiMiddleware(app, Settings(), access_log=False)(scope, receive, send))
    headers = dict(sent[0]["headers"])
    assert is_valid(headers[b"x-tracking-id"].decode()) and headers[b"x-tracking-id"] != raw


class Explosive:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    def __str__(self) -> str:
        raise RuntimeError("str exploded")


class BadException(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def _exc_info(exc: BaseException) -> Any:
    try:
        raise exc
    except BaseException as caught:
        return (type(caught), caught, caught.__traceback__)


RECORDS = [
    pytest.param({"msg": "%s and %s", "args": ("one",)}, id="too-few-args"),
    pytest.param({"msg": Explosive(), "args": ()}, id="msg-str-raises"),
    pytest.param({"msg": "x", "args": (), "extra": {"thing": Explosive()}}, id="extra-repr-raises"),
    pytest.param(
        {"msg": "x", "args": (), "exc_info": _exc_info(BadException())}, id="exception-str-raises"
    ),
    pytest.param(
        {"msg": "x", "args": (), "extra": {"deep": [[[[[[1]]]]]] * 1000}}, id="wide-nested-list"
    ),
    pytest.param({"msg": "x" * 100_000, "args": ()}, id="message-100KB"),
    pytest.param({"msg": "\ud800 lone surrogate", "args": ()}, id="lone-surrogate"),
]


@pytest.mark.parametrize("spec", RECORDS)
def test_records_that_cannot_be_serialized_still_give_one_line(
    spec: dict[str, Any], tmp_path: Any
) -> None:
    """A record that breaks formatting: the log call returns, one JSON line with the
    tracking ID is written (the formatted record or a stand-in)."""
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    handler = LineWriterHandler(fd)
    handler.setFormatter(EcsFormatter("svc"))
    record = logging.LogRecord(
        "app", logging.ERROR, __file__, 1, spec["msg"], spec["args"], spec.get("exc_info")
    )
    record.__dict__.update(spec.get("extra", {}))
    record.__dict__["tracking_id"] = "hostile-1"
    handler.handle(record)
    handler.flush()
    os.close(fd)
    (line,) = path.read_bytes().splitlines()
    parsed = json.loads(line)
    assert parsed["tracking_id"] == "hostile-1" and len(line) < 4096


def test_writer_to_a_closed_stdout_drops_and_counts() -> None:
    """stdout closed (EBADF) or its reader gone (EPIPE): the lines are counted as dropped and
    discarded; logging returns normally."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # EPIPE for the writer (SIGPIPE is ignored by Python)
    handler = LineWriterHandler(write_end)
    handler.setFormatter(EcsFormatter("svc"))
    for n in range(5):
        handler.handle(logging.LogRecord("app", logging.INFO, __file__, 1, "line %d", (n,), None))
    handler.flush()
    assert handler.dropped_lines == 5
    os.close(write_end)
    closed = LineWriterHandler(os.sysconf("SC_OPEN_MAX"))  # a number no fd can have: EBADF
    closed.setFormatter(EcsFormatter("svc"))
    closed.handle(logging.LogRecord("app", logging.INFO, __file__, 1, "to a closed fd", (), None))
    closed.flush()
    assert closed.dropped_lines == 1


def test_writer_to_a_full_non_blocking_stdout_waits_and_loses_nothing() -> None:
    """A non-blocking stdout that is full (EAGAIN): the writer waits for room, the app's log
    calls return at once, and every line arrives whole once the reader reads."""
    read_end, write_end = os.pipe()
    flags = fcntl.fcntl(write_end, fcntl.F_GETFL)
    fcntl.fcntl(write_end, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    handler = LineWriterHandler(write_end)
    handler.setFormatter(EcsFormatter("svc"))
    started = time.monotonic()
    for n in range(400):  # ~400 x 600 B: several times a 64 KiB pipe
        handler.handle(
            logging.LogRecord("app", logging.INFO, __file__, 1, "line %d %s", (n, "y" * 400), None)
        )
    assert time.monotonic() - started < 2, "log calls waited on the full pipe"
    received = bytearray()

    def drain() -> None:
        while chunk := os.read(read_end, 65536):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    handler.flush(timeout=10)
    os.close(write_end)
    reader.join(10)
    os.close(read_end)
    lines = [json.loads(raw) for raw in bytes(received).splitlines()]
    assert [line["message"].split()[1] for line in lines] == [str(n) for n in range(400)]
    assert handler.dropped_lines == 0


@pytest.mark.parametrize(
    ("env", "name"),
    [
        pytest.param({"TRACKING_ID_POLICY": "sometimes"}, "TRACKING_ID_POLICY", id="policy"),
        pytest.param({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL", id="level"),
        pytest.param({"LOG_MAX_LINE_BYTES": "99999"}, "LOG_MAX_LINE_BYTES", id="line-bytes"),
        pytest.param({"LOG_FORMAT": "xml"}, "LOG_FORMAT", id="format"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], name: str) -> None:
    """A setting trackstack cannot use: ConfigError naming the variable, at startup."""
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


def test_bound_with_an_invalid_id_raises_a_clear_error() -> None:
    """bound() is for the app's own IDs: an invalid one is a ValueError, not a silent swap."""
    with pytest.raises(ValueError, match="1-128"):
        with bound("has space"):
            pass


@pytest.mark.parametrize(
    ("raw", "value", "says"),
    [
        pytest.param("8080", 8080, None, id="whole"),
        pytest.param(" 8080 ", 8080, None, id="spaces"),
        pytest.param("8080.0", 8080, None, id="point-zero"),
        pytest.param("1e3", 1000, None, id="exponent"),
        pytest.param("", 8000, None, id="blank-default"),
        pytest.param("2.5", None, "must be a whole number", id="fraction"),
        pytest.param("80.01", None, "must be a whole number", id="small-fraction"),
        pytest.param("abc", None, "is not a number", id="text"),
        pytest.param("0", None, "must be between 1 and 65535", id="below"),
        pytest.param("nan", None, "must be between", id="nan"),
        pytest.param("inf", None, "must be between", id="inf"),
    ],
)
def test_whole_settings_refuse_a_fraction(raw: str, value: int | None, says: str | None) -> None:
    """Ports, worker counts, sizes: a fraction is refused, not cut (PORT=2.5 listened on 2)."""
    env = {"PORT": raw}
    if says is None:
        assert whole(env, "PORT", 8000, 1, 65535) == value
    else:
        with pytest.raises(ConfigError, match=says):
            whole(env, "PORT", 8000, 1, 65535)
