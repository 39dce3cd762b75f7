"""Tests for trackstack/asgi.py with a FastAPI app: headers on every response, the ID on every
line (background thread included), one access line per response, context reset."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException

from tests.helpers import DEBUG_TOKEN, AsgiClient, captured_lines, parse_line
from trackstack import Settings, current_tracking_id, is_valid, start_thread
from trackstack.asgi import TrackingMiddleware
from trackstack.context import trace_var, tracking_id_var

log = logging.getLogger("app")
done = threading.Event()


def _app(settings: Settings) -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    def hello() -> dict[str, Any]:
        log.info("hello handler")
        log.debug("hello debug detail")
        start_thread(_background)
        return {"tracking_id": current_tracking_id()}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/teapot")
    def teapot() -> None:
        raise HTTPException(418, "short and stout")

    app.add_middleware(TrackingMiddleware, settings=settings)
    return app


def _background() -> None:
    log.info("background line")
    done.set()


@pytest.fixture
def client(lib_settings: Settings, lines: Any) -> AsgiClient:
    return AsgiClient(_app(lib_settings))


def _access(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["event"]["dataset"] == "trackstack.access"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/hello", 200, id="ok"),
        pytest.param("/nowhere", 404, id="not-found"),
        pytest.param("/hello?x=1", 200, id="query"),
        pytest.param("/teapot", 418, id="http-exception"),
        pytest.param("/boom", 500, id="unhandled"),
    ],
)
def test_every_response_carries_the_headers_and_one_access_line(
    client: AsgiClient, lines: Any, path: str, status: int
) -> None:
    """X-Tracking-ID, traceparent and X-DateTime on every status; one access line with it."""
    done.clear()
    response = client.get(path, headers={"X-Tracking-ID": "asgi-1"})
    assert response.status_code == status
    assert response.headers["X-Tracking-ID"] == "asgi-1"
    assert response.headers["traceparent"].startswith("00-")
    assert "T" in response.headers["X-DateTime"]
    if path.startswith("/hello"):
        assert done.wait(5)
    written = [line for line in lines() if line["log"]["logger"] != "httpx"]  # the test's client
    access = _access(written)
    assert len(access) == 1
    assert access[0]["tracking_id"] == "asgi-1"
    assert access[0]["http"]["response"]["status_code"] == status
    assert access[0]["url"]["path"] == path.split("?")[0]
    assert access[0]["event"]["duration"] > 0
    assert all(line.get("tracking_id") == "asgi-1" for line in written)


def test_background_thread_and_handler_lines_carry_the_id(client: AsgiClient, lines: Any) -> None:
    """A line from a thread started with start_thread keeps the request's tracking ID."""
    done.clear()
    response = client.get("/hello", headers={"X-Request-ID": "req-9"})
    assert response.json() == {"tracking_id": "req-9"}
    assert done.wait(5)
    by_message = {line["message"]: line for line in lines()}
    assert by_message["background line"]["tracking_id"] == "req-9"
    assert (
        by_message["hello handler"]["trace"]["id"] == response.headers["traceparent"].split("-")[1]
    )
    assert "hello debug detail" not in by_message


def test_unhandled_error_is_a_json_500_with_the_stack(client: AsgiClient, lines: Any) -> None:
    """An exception in a handler: the envelope, and an ERROR line with error.* fields."""
    response = client.get("/boom")
    body = response.json()
    assert body["code"] == 500 and body["tracking_id"] == response.headers["X-Tracking-ID"]
    errors = [line for line in lines() if line["log"]["level"] == "error"]
    assert len(errors) == 1 and errors[0]["error"]["type"] == "RuntimeError"


def test_hostile_id_is_replaced_never_echoed(client: AsgiClient, lines: Any) -> None:
    """policy=replace: a new UUID, a WARNING with the reason, the raw value nowhere."""
    response = client.get("/hello", headers={"X-Tracking-ID": "bad id <script>"})
    new_id = response.headers["X-Tracking-ID"]
    assert is_valid(new_id) and new_id != "bad id <script>"
    written = lines()
    assert "<script>" not in str(written)
    refused = [
        line for line in written if line.get("event", {}).get("action") == "tracking_id_refused"
    ]
    assert len(refused) == 1 and refused[0]["tracking_id"] == new_id


def test_reject_policy_answers_400_and_the_app_never_runs(lines: Any) -> None:
    """policy=reject: the 400 envelope with the new ID, and no handler line."""
    client = AsgiClient(_app(Settings(tracking_id_policy="reject")))
    response = client.get("/hello", headers={"X-Tracking-ID": "bad id"})
    assert response.status_code == 400
    assert response.json()["tracking_id"] == response.headers["X-Tracking-ID"]
    assert not [line for line in lines() if line["message"] == "hello handler"]


def test_per_request_debug_needs_the_token(client: AsgiClient, lines: Any) -> None:
    """X-Debug-Log with the right token: DEBUG lines for that request only."""
    done.clear()
    on = client.get(
        "/hello",
        headers={"X-Debug-Log": "1", "X-Debug-Token": DEBUG_TOKEN, "X-Tracking-ID": "dbg-on"},
    )
    client.get(
        "/hello", headers={"X-Debug-Log": "1", "X-Debug-Token": "nope", "X-Tracking-ID": "dbg-bad"}
    )
    assert on.headers["X-Debug-Log"] == "on"
    debug = {line["tracking_id"] for line in lines() if line["log"]["level"] == "debug"}
    assert debug == {"dbg-on"}
    # The audit lines, as the Flask adapter writes them: who turned DEBUG on, and what came.
    mine = [line for line in lines() if line.get("tracking_id") == "dbg-on"]
    audit = [line for line in mine if line.get("event", {}).get("action") == "debug_enabled"]
    assert len(audit) == 1 and audit[0]["labels"]["debug_reason"] == "token"
    (summary,) = [line for line in mine if line["message"] == "request summary"]
    assert summary["http"]["request"]["headers"]["x-debug-token"] == "[REDACTED]"


def test_context_is_reset_after_each_request(client: AsgiClient) -> None:
    """Nothing of a request's ID or trace survives it."""
    client.get("/hello", headers={"X-Tracking-ID": "one"})
    assert tracking_id_var.get() is None and trace_var.get() is None


def test_uvicorn_access_logger_is_switched_off(lib_settings: Settings) -> None:
    """The middleware writes the access line, so uvicorn's own would be a second one."""
    logging.getLogger("uvicorn.access").disabled = False
    TrackingMiddleware(FastAPI(), lib_settings)
    assert logging.getLogger("uvicorn.access").disabled


def test_lifespan_shutdown_makes_every_later_line_written_at_once(
    tmp_path: Path, lib_settings: Settings
) -> None:
    """After ``lifespan.shutdown`` reaches the app, a line is in the output when its logging
    call returns (no writer thread to wait for): uvicorn's last lines survive the SIGTERM it
    re-raises. Before it, lines still go through the writer thread."""
    path = tmp_path / "out.ndjson"
    with captured_lines(path, lib_settings):
        handler = logging.getLogger().handlers[0]
        app = TrackingMiddleware(FastAPI(), settings=lib_settings)
        messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent: list[str] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message["type"])

        log.info("while serving")
        assert handler._direct_lock is None
        asyncio.run(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
        assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        log.info("after shutdown")
        written = path.read_bytes().splitlines()  # read at once: no flush, no wait
        assert [parse_line(line)["message"] for line in written][-2:] == [
            "while serving",
            "after shutdown",
        ]
