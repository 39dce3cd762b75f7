"""orders (FastAPI on trackstack.asgi) in this process: the seed articles' points, one test
each (async handler + simulated DB, ID by dependency injection, BackgroundTasks after the
response, sync handler in the thread pool, httpx.AsyncClient propagation), the envelope on
every error status, faults, and the per-process log file renamed at a moved midnight."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import BackgroundTasks, FastAPI
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

from orders import create_app
from orders.config import Settings
from orders.logfiles import DailyFile
from tests.helpers import Lines, captured_lines, parse_line
from trackstack import configure_logging, current_tracking_id, start_thread
from trackstack.asgi import TrackingMiddleware
from trackstack.context import tracking_id_var

DEBUG_TOKEN = "orders-debug-token-0123"


@pytest.fixture
def settings() -> Settings:
    return Settings(debug_log_token=DEBUG_TOKEN, db_latency_ms=20)


@pytest.fixture
def lines(tmp_path: Path, settings: Settings) -> Iterator[Lines]:
    with captured_lines(tmp_path / "out.ndjson", settings.tracking()) as read:
        yield read


@pytest.fixture
def app(settings: Settings, lines: Lines) -> FastAPI:
    """orders, whose outbound calls go to a second orders app in this process."""
    return create_app(settings, downstream=httpx.ASGITransport(create_app(settings)))


def call(app: Any, *requests: tuple[str, str, dict[str, str]]) -> list[httpx.Response]:
    """Send the requests concurrently into ``app`` (one event loop; the app runs in each
    request's task, as under uvicorn)."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
            return list(
                await asyncio.gather(
                    *(client.request(m, path, headers=h) for m, path, h in requests)
                )
            )

    return asyncio.run(run())


def get(app: Any, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return call(app, ("GET", path, headers or {}))[0]


def by_message(lines: list[dict[str, Any]], start: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["message"].startswith(start)]


def test_async_handler_awaits_the_db_and_logs_under_each_requests_id(
    app: FastAPI, lines: Lines
) -> None:
    """30 concurrent /api/users awaiting the simulated DB: each db_query line has its own ID."""
    responses = call(app, *(("GET", "/api/users", {"X-Tracking-ID": f"u-{n}"}) for n in range(30)))
    assert [r.headers["X-Tracking-ID"] for r in responses] == [f"u-{n}" for n in range(30)]
    queries = [line for line in lines() if line.get("event.action") == "db_query"]
    assert sorted(line["tracking_id"] for line in queries) == sorted(f"u-{n}" for n in range(30))
    assert all(line["event.duration"] >= 20_000_000 for line in queries)  # awaited 20 ms


def test_dependency_injection_gives_the_handler_the_id_and_trace(app: FastAPI) -> None:
    """/api/context gets the ID and span by Depends(): the ones the response carries."""
    response = get(app, "/api/context", {"X-Tracking-ID": "di-1"})
    data = response.json()["data"]
    assert data["tracking_id"] == "di-1" == response.headers["X-Tracking-ID"]
    assert data["trace_id"] == response.headers["traceparent"].split("-")[1]


def test_background_job_lines_keep_the_id_after_the_response(app: FastAPI, lines: Lines) -> None:
    """POST /api/jobs: the 202's access line first, then every job line, all under its ID."""
    response = call(app, ("POST", "/api/jobs", {"X-Tracking-ID": "job-1"}))[0]
    assert response.status_code == 202
    job_id = response.json()["data"]["job_id"]
    out = [line for line in lines() if line.get("tracking_id") == "job-1"]
    access = [n for n, line in enumerate(out) if line["event"]["dataset"] == "trackstack.access"]
    job = [n for n, line in enumerate(out) if line.get("labels.job_id") == job_id]
    assert len(access) == 1 and len(job) == response.json()["data"]["steps"] + 2
    # The access line is written when the response is complete, before the job's first step:
    # the job runs after the response and is not part of its event.duration.
    steps = [n for n in job if out[n].get("event.action") in ("job_step", "job_finished")]
    assert min(steps) > access[0]
    assert out[-1].get("event.action") == "job_finished"


class _SetResetMiddleware(BaseHTTPMiddleware):
    """The seed's shape: BaseHTTPMiddleware setting the ID, resetting it after call_next."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        token = tracking_id_var.set(request.headers["X-Tracking-ID"])
        try:
            return await call_next(request)
        finally:
            tracking_id_var.reset(token)


def _job_app(middleware: str, job: str) -> tuple[FastAPI, list[str | None]]:
    seen: list[str | None] = []
    app = FastAPI()

    def record() -> None:
        seen.append(current_tracking_id())

    @app.get("/job")
    async def start(background: BackgroundTasks) -> dict[str, int]:
        if job == "background-task":
            background.add_task(record)
        elif job == "plain-thread":
            threading.Thread(target=record).start()  # a new thread starts with an empty context
        else:
            start_thread(record)
        return {"ok": 1}

    if middleware == "pure-asgi":
        app.add_middleware(TrackingMiddleware)
    else:
        app.add_middleware(_SetResetMiddleware)
    return app, seen


@pytest.mark.parametrize(
    ("middleware", "job", "keeps"),
    [
        pytest.param("pure-asgi", "background-task", True, id="asgi-background-task"),
        pytest.param("base-http", "background-task", True, id="basehttp-background-task"),
        pytest.param("pure-asgi", "plain-thread", False, id="asgi-plain-thread"),
        pytest.param("base-http", "plain-thread", False, id="basehttp-plain-thread"),
        pytest.param("pure-asgi", "start-thread", True, id="asgi-trackstack-start-thread"),
    ],
)
def test_which_background_work_keeps_the_id_without_passing_it(
    lines: Lines, middleware: str, job: str, keeps: bool
) -> None:
    """What keeps the request's ID with nothing passed explicitly. The pure ASGI middleware
    runs the app, BackgroundTasks included, inside its own call in the same task, so the job
    runs in the request's context. Measured on Starlette 1.x, BaseHTTPMiddleware keeps it too
    (call_next runs the app in a task started with a copy of the context), so the seed's
    explicit passing is not needed there either; what loses the ID is a plain new thread."""
    app, seen = _job_app(middleware, job)
    get(app, "/job", {"X-Tracking-ID": "bg-1"})
    for _ in range(100):
        if seen:
            break
        threading.Event().wait(0.01)
    assert seen == (["bg-1"] if keeps else [None])


def test_sync_handler_runs_in_the_thread_pool_and_keeps_the_id(app: FastAPI, lines: Lines) -> None:
    """/api/item is a plain def: its (DEBUG) line comes from a worker thread, under the ID."""
    headers = {"X-Tracking-ID": "sync-1", "X-Debug-Log": "1", "X-Debug-Token": DEBUG_TOKEN}
    assert get(app, "/api/item?sku=s1", headers).status_code == 200
    [line] = by_message(lines(), "building item s1")
    assert line["tracking_id"] == "sync-1"
    assert line["process.thread.name"] != threading.current_thread().name


def test_outbound_async_call_carries_the_id_and_a_child_span(app: FastAPI, lines: Lines) -> None:
    """/api/orders/<id> calls /api/item with httpx.AsyncClient: same ID, same trace, child span."""
    response = get(app, "/api/orders/o7", {"X-Tracking-ID": "out-1"})
    assert response.status_code == 200
    assert response.json()["data"]["item"]["sku"] == "sku-o7"
    out = [line for line in lines() if line.get("tracking_id") == "out-1"]
    [call_line] = [line for line in out if line.get("event.action") == "dependency_call"]
    paths = [line["url"]["path"] for line in out if line["event"]["dataset"] == "trackstack.access"]
    assert sorted(paths) == ["/api/item", "/api/orders/o7"]
    trace_id = response.headers["traceparent"].split("-")[1]
    assert {line["trace"]["id"] for line in out} == {trace_id}
    [inner] = [
        line
        for line in out
        if line["event"]["dataset"] == "trackstack.access" and line["url"]["path"] == "/api/item"
    ]
    assert inner["span"]["id"] != call_line["span"]["id"]  # the callee's span is its own


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/nowhere", 404, id="404-unknown-path"),
        pytest.param("DELETE", "/api/names", 405, id="405-wrong-method"),
        pytest.param("GET", "/api/typed?n=abc", 422, id="422-validation"),
        pytest.param("GET", "/api/error", 500, id="500-unhandled"),
        pytest.param("GET", "/api/slow?ms=-1", 400, id="400-bad-ms"),
        pytest.param("GET", "/api/orders/a%20b", 400, id="400-bad-order-id"),
        pytest.param("POST", "/api/login", 400, id="400-no-body"),
    ],
)
def test_every_error_is_the_envelope_with_the_headers(
    app: FastAPI, lines: Lines, method: str, path: str, status: int
) -> None:
    """404/405/422/500/400: JSON envelope with the ID, the three headers, one access line."""

    @app.get("/api/typed")
    async def typed(n: int) -> dict[str, int]:
        return {"n": n}

    response = call(app, (method, path, {"X-Tracking-ID": "err-1"}))[0]
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == status and body["data"] is None and body["tracking_id"] == "err-1"
    assert body["msg"].startswith(f"{method} ")
    assert response.headers["X-Tracking-ID"] == "err-1"
    assert {"traceparent", "x-datetime"} <= response.headers.keys()
    if status == 405:
        assert response.headers["allow"] == "GET"
    access = [
        line
        for line in lines()
        if line["event"]["dataset"] == "trackstack.access" and line.get("tracking_id") == "err-1"
    ]
    assert [line["http"]["response"]["status_code"] for line in access] == [status]
    assert "abc" not in body["msg"]  # the 422 says where, not what the client sent


@pytest.mark.parametrize(
    ("fault", "status", "forwarded"),
    [
        pytest.param("error", 500, False, id="error-here"),
        pytest.param("error@trackstack-orders", 500, False, id="error-aimed-here"),
        pytest.param("error@elsewhere", 200, True, id="error-aimed-elsewhere-passed-on"),
        pytest.param("latency=30", 200, False, id="latency-here"),
    ],
)
def test_faults_follow_the_flask_services_rules(
    app: FastAPI, lines: Lines, fault: str, status: int, forwarded: bool
) -> None:
    """X-Fault as service/faults.py: here or aimed, a WARNING each, passed on if aimed away."""
    response = get(app, "/api/orders/f1", {"X-Fault": fault, "X-Tracking-ID": "fault-1"})
    assert response.status_code == status
    injected = [line for line in lines() if line.get("event.action") == "fault_injected"]
    assert injected if status == 500 or "latency" in fault else not injected
    assert all(line["log.level"] == "warning" for line in injected)
    if forwarded:
        assert not injected  # neither this app nor the callee is "elsewhere"


def test_debug_request_logs_the_audit_line_and_summary(app: FastAPI, lines: Lines) -> None:
    """With the token: debug_enabled + a redacted request summary, as the Flask service."""
    headers = {
        "X-Tracking-ID": "dbg-1",
        "X-Debug-Log": "1",
        "X-Debug-Token": DEBUG_TOKEN,
        "Authorization": "Bearer sekrit-123",
    }
    response = get(app, "/api/names", headers)
    assert response.headers["X-Debug-Log"] == "on"
    out = [line for line in lines() if line.get("tracking_id") == "dbg-1"]
    assert [line for line in out if line.get("event.action") == "debug_enabled"]
    assert by_message(out, "request summary")
    assert "sekrit-123" not in str(out) and DEBUG_TOKEN not in str(out)


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_daily_file_renames_at_utc_midnight_and_keeps_n_days(tmp_path: Path) -> None:
    """A moved clock: no rename before midnight UTC, one per day after; retention N days."""
    saved = os.dup(1), os.dup(2)
    clock = MovableClock(datetime(2026, 3, 1, 23, 59, 58, tzinfo=UTC))
    daily = DailyFile(tmp_path, "orders-123", retention_days=2, clock=clock)
    stale = tmp_path / "orders-999.ndjson.2026-02-20"  # a dead process's old file
    stale.write_text("{}\n")
    try:
        daily.open()
        os.write(1, b'{"n":1}\n')
        assert daily.rollover_if_due() is None  # 23:59:58: same day
        clock.now += timedelta(seconds=3)  # 00:00:01 UTC, March 2nd
        assert daily.rollover_if_due() == tmp_path / "orders-123.ndjson.2026-03-01"
        os.write(1, b'{"n":2}\n')
        for _ in range(3):
            clock.now += timedelta(days=1)
            daily.rollover_if_due()
            os.write(1, b'{"n":3}\n')
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
    names = sorted(path.name for path in tmp_path.iterdir())
    # March 5th now: the live file, and the renamed days within 2 days (3rd and 4th).
    assert names == [
        "orders-123.ndjson",
        "orders-123.ndjson.2026-03-03",
        "orders-123.ndjson.2026-03-04",
    ]
    assert (tmp_path / "orders-123.ndjson.2026-03-03").read_text() == '{"n":3}\n'
    assert not stale.exists()


def test_daily_file_rename_under_load_loses_no_line(tmp_path: Path, settings: Settings) -> None:
    """Lines logged from 4 threads while the clock crosses 5 midnights: each in one file once."""
    saved = os.dup(1), os.dup(2)
    clock = MovableClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
    daily = DailyFile(tmp_path, "orders-1", retention_days=30, clock=clock)
    stop = threading.Event()
    log = logging.getLogger("orders.test")
    try:
        daily.open()
        handler = configure_logging(settings.tracking())  # writes fd 1: the daily file

        def spam(worker: int) -> None:
            n = 0
            while not stop.is_set():
                log.info("line %d-%d", worker, n)
                n += 1

        threads = [threading.Thread(target=spam, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for _ in range(5):
            threading.Event().wait(0.05)
            clock.now += timedelta(days=1)
            assert daily.rollover_if_due() is not None
        stop.set()
        for thread in threads:
            thread.join()
        handler.flush()
        logging.getLogger().removeHandler(handler)
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
    files = sorted(tmp_path.iterdir())
    assert len(files) == 6
    messages = [
        parse_line(raw)["message"] for path in files for raw in path.read_bytes().splitlines()
    ]
    logged = [m for m in messages if m.startswith("line ")]
    assert len(logged) == len(set(logged)) > 100
    for worker in range(4):  # per thread, the numbers run without a gap
        numbers = sorted(int(m.split("-")[1]) for m in logged if m.startswith(f"line {worker}-"))
        assert numbers == list(range(len(numbers)))


def test_contextvars_are_reset_between_requests_on_one_loop(app: FastAPI) -> None:
    """After a request, the loop's context has no ID left (nothing leaks to the next)."""
    get(app, "/api/names", {"X-Tracking-ID": "leak-1"})
    assert contextvars.copy_context().get(tracking_id_var) is None
