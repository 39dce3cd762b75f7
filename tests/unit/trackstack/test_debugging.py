"""Debug detail when it is needed (trackstack/context.py set_user, logs.py level gate and
held records, steps.py, debug.py sampling), on a plain Flask app and a FastAPI app: the same
table for both frameworks."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from flask import Flask
from werkzeug.test import Client

from tests.helpers import AsgiClient, parse_line
from trackstack import ConfigError, Settings, bound, configure_logging, set_user, step
from trackstack.asgi import TrackingMiddleware
from trackstack.context import RequestScope, scope_var
from trackstack.flask import Tracking
from trackstack.logs import LevelGate, release
from trackstack.settings import parse_log_levels

log = logging.getLogger("app")
Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Callable[..., Lines]]:
    """``pipeline(**settings)``: configure the real pipeline into a file; returns its reader."""
    handlers = []

    def configure(**fields: Any) -> Lines:
        path = tmp_path / f"out{len(handlers)}.ndjson"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        settings = Settings(service_name="lib-test", debug_loggers=("app",), **fields)
        handler = configure_logging(settings, fd=fd)
        handlers.append((handler, fd))

        def read() -> list[dict[str, Any]]:
            handler.flush()
            return [parse_line(raw) for raw in path.read_text().splitlines()]

        return read

    yield configure
    for handler, fd in handlers:
        logging.getLogger().removeHandler(handler)
        handler.flush()
        os.close(fd)


def _flask(settings: Settings) -> Any:
    app = Flask(__name__)
    Tracking(app, settings)

    @app.get("/user/<name>")
    def user(name: str) -> Any:
        log.info("before the user is known")
        set_user(name)
        log.info("after the user is known")
        return {"ok": True}

    @app.get("/detail/<outcome>")
    def detail(outcome: str) -> Any:
        return _outcome(outcome) or ({"ok": True}, 200)

    @app.errorhandler(500)
    def failed(exc: Any) -> Any:
        return {"ok": False}, 500

    client = Client(app)

    def get(path: str) -> int:
        response = client.get(path)
        response.close()  # the end of the response: what a WSGI server does
        return response.status_code

    return get


def _outcome(outcome: str) -> Any:
    """One DEBUG line per request (``N`` lines for many-N), then the outcome the name says."""
    count = int(outcome.removeprefix("many-")) if outcome.startswith("many-") else 1
    for n in range(count):
        log.debug("detail %s %d", outcome, n)
    if outcome == "raise" or outcome.startswith("many-"):
        raise RuntimeError("failed on purpose")
    if outcome == "slow":
        time.sleep(0.06)
    if outcome == "status-503":
        return {"ok": False}, 503
    return None


def _fastapi(settings: Settings) -> Any:
    app = FastAPI()

    @app.get("/user/{name}")
    async def user(name: str) -> Any:
        log.info("before the user is known")
        set_user(name)
        log.info("after the user is known")
        return {"ok": True}

    @app.get("/detail/{outcome}")
    async def detail(outcome: str) -> Any:
        answer = _outcome(outcome)
        if answer is not None:
            return JSONResponse(answer[0], status_code=answer[1])
        return {"ok": True}

    client = AsgiClient(TrackingMiddleware(app, settings))
    return lambda path: client.get(path).status_code


FRAMEWORKS = [pytest.param(_flask, id="flask"), pytest.param(_fastapi, id="fastapi")]


def _of(lines: list[dict[str, Any]], message: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["message"] == message]


# --- 1. user context -------------------------------------------------------------------


@pytest.mark.parametrize("make_app", FRAMEWORKS)
def test_user_id_is_on_every_line_after_set_user(pipeline: Any, make_app: Any) -> None:
    """set_user: user.id on the lines after it (and the ASGI access line), not before, and
    not on the next request."""
    lines = pipeline()
    get = make_app(Settings(service_name="lib-test"))
    assert get("/user/ada") == 200 and get("/user/grace") == 200
    written = lines()
    before, after = (
        _of(written, "before the user is known"),
        _of(written, "after the user is known"),
    )
    assert [line.get("user.id") for line in before] == [None, None]
    assert [line["user.id"] for line in after] == ["ada", "grace"]
    access = [line for line in written if line["event"]["dataset"] == "trackstack.access"]
    if access:  # the ASGI middleware writes it; under gunicorn, tests/server checks it
        assert [line["user.id"] for line in access] == ["ada", "grace"]


def test_set_user_outside_a_request_is_a_clear_error() -> None:
    """set_user with no request scope: RuntimeError, not a silently lost user."""
    with pytest.raises(RuntimeError, match="needs a request"):
        set_user("ada")


def test_set_user_in_a_bound_block(pipeline: Any) -> None:
    """A background job under bound() can name its user too; it ends with the block."""
    lines = pipeline()
    with bound("job-1"):
        set_user(42)
        log.info("job line")
    log.info("after the job")
    written = lines()
    assert _of(written, "job line")[0]["user.id"] == "42"
    assert "user.id" not in _of(written, "after the job")[0]


# --- 2. per-logger levels --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("", (), id="empty"),
        pytest.param("a=DEBUG", (("a", "DEBUG"),), id="one"),
        pytest.param(
            " service.downstream = debug , urllib3=WARNING ",
            (("service.downstream", "DEBUG"), ("urllib3", "WARNING")),
            id="spaces-and-case",
        ),
        pytest.param("a=INFO,,", (("a", "INFO"),), id="trailing-commas"),
    ],
)
def test_log_levels_parse(raw: str, expected: tuple[tuple[str, str], ...]) -> None:
    """LOG_LEVELS: logger=LEVEL pairs, names kept, levels upper-cased."""
    assert parse_log_levels(raw) == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"LOG_LEVELS": "urllib3"}, "is not logger=LEVEL", id="no-equals"),
        pytest.param({"LOG_LEVELS": "=DEBUG"}, "is not logger=LEVEL", id="no-name"),
        pytest.param({"LOG_LEVELS": "a b=DEBUG"}, "is not logger=LEVEL", id="spaced-name"),
        pytest.param({"LOG_LEVELS": "urllib3=LOUD"}, "level must be one of", id="bad-level"),
        pytest.param({"LOG_LEVELS": "urllib3="}, "level must be one of", id="no-level"),
        pytest.param({"LOG_LEVELS": "a=INFO,a=DEBUG"}, "named twice", id="twice"),
        pytest.param({"DEBUG_SAMPLE_RATE": "1.5"}, "DEBUG_SAMPLE_RATE", id="rate-over-1"),
        pytest.param({"DEBUG_SAMPLE_RATE": "-0.1"}, "DEBUG_SAMPLE_RATE", id="rate-negative"),
        pytest.param({"DEBUG_SAMPLE_RATE": "some"}, "DEBUG_SAMPLE_RATE", id="rate-text"),
        pytest.param({"DEBUG_ON_FAILURE": "maybe"}, "DEBUG_ON_FAILURE", id="flag"),
        pytest.param({"DEBUG_SLOW_MS": "-1"}, "DEBUG_SLOW_MS", id="slow-negative"),
        pytest.param({"DEBUG_HELD_PER_REQUEST": "0"}, "DEBUG_HELD_PER_REQUEST", id="held-0"),
        pytest.param({"LOG_MAX_LINE_BYTES": "65537"}, "LOG_MAX_LINE_BYTES", id="line-over-64k"),
    ],
)
def test_bad_debug_settings_fail_at_start(env: dict[str, str], message: str) -> None:
    """A bad LOG_LEVELS / DEBUG_* value: ConfigError at start naming the variable and entry."""
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_log_levels_write_one_logger_below_the_root_level(pipeline: Any) -> None:
    """Root at INFO; app.chatty (and its children) at DEBUG are written, app.quiet's INFO is
    not, other loggers' DEBUG is not."""
    lines = pipeline(log_levels=(("app.chatty", "DEBUG"), ("app.quiet", "WARNING")))
    logging.getLogger("app.chatty.sub").debug("chatty debug")
    logging.getLogger("app.quiet").info("quiet info")
    logging.getLogger("app.quiet").warning("quiet warning")
    logging.getLogger("app.other").debug("other debug")
    logging.getLogger("app.other").info("other info")
    messages = {line["message"] for line in lines()}
    assert {"chatty debug", "quiet warning", "other info"} <= messages
    assert not {"quiet info", "other debug"} & messages


# --- 3. step timers --------------------------------------------------------------------


def test_step_context_manager_decorator_and_async(pipeline: Any) -> None:
    """One line per step: event.action, labels.step, event.duration (ns), event.outcome,
    under the current tracking ID; a failing step says failure and still raises."""
    lines = pipeline()

    @step("decorated")
    def decorated() -> int:
        time.sleep(0.01)
        return 7

    @step("async.decorated", action="db_query")
    async def async_decorated() -> int:
        await asyncio.sleep(0.01)
        return 8

    with bound("steps-1"):
        with step("block"):
            time.sleep(0.02)
        assert decorated() == 7
        assert asyncio.run(async_decorated()) == 8
        with pytest.raises(KeyError), step("broken"):
            raise KeyError("x")
    by_step = {line["labels.step"]: line for line in lines() if "labels.step" in line}
    assert set(by_step) == {"block", "decorated", "async.decorated", "broken"}
    assert by_step["block"]["event.duration"] >= 20_000_000
    assert by_step["decorated"]["event.duration"] >= 10_000_000
    assert by_step["async.decorated"]["event.action"] == "db_query"
    assert by_step["block"]["event.action"] == "step"
    assert by_step["broken"]["event.outcome"] == "failure"
    assert by_step["block"]["event.outcome"] == "success"
    assert {line["tracking_id"] for line in by_step.values()} == {"steps-1"}


# --- 4. sampled debug ------------------------------------------------------------------


@pytest.mark.parametrize("make_app", FRAMEWORKS)
@pytest.mark.parametrize(
    ("rate", "sampled"),
    [pytest.param(1.0, True, id="rate-1"), pytest.param(0.0, False, id="rate-0")],
)
def test_sampled_requests_write_debug_and_say_so(
    pipeline: Any, make_app: Any, rate: float, sampled: bool
) -> None:
    """DEBUG_SAMPLE_RATE=1: every request writes its DEBUG lines after an audit line marked
    labels.debug_reason=sampled; 0: none."""
    lines = pipeline(debug_sample_rate=rate)
    get = make_app(Settings(service_name="lib-test", debug_sample_rate=rate))
    assert get("/detail/ok") == 200
    written = lines()
    audit = [line for line in written if line.get("event.action") == "debug_enabled"]
    detail = _of(written, "detail ok 0")
    if make_app is _fastapi:  # the audit line is the app's to write (orders does)
        audit = [{"labels.debug_reason": "sampled"}] if sampled else []
    assert [line["labels.debug_reason"] for line in audit] == (["sampled"] if sampled else [])
    assert len(detail) == (1 if sampled else 0)


# --- 5. failure-triggered debug --------------------------------------------------------

HELD = [
    pytest.param("ok", 200, None, id="success-dropped"),
    pytest.param("status-503", 503, "failure", id="5xx-written"),
    pytest.param("raise", 500, "failure", id="exception-written"),
    pytest.param("slow", 200, "slow", id="slow-written"),
]


@pytest.mark.parametrize("make_app", FRAMEWORKS)
@pytest.mark.parametrize(("outcome", "status", "reason"), HELD)
def test_held_debug_is_written_only_for_a_failed_or_slow_request(
    pipeline: Any, make_app: Any, outcome: str, status: int, reason: str | None
) -> None:
    """DEBUG_ON_FAILURE: a request's DEBUG lines appear only if it ends 5xx, raises or takes
    DEBUG_SLOW_MS; then after one debug_released line and before the access line."""
    settings = Settings(service_name="lib-test", debug_on_failure=True, debug_slow_ms=40)
    lines = pipeline(debug_on_failure=True, debug_slow_ms=40)
    get = make_app(settings)
    assert get(f"/detail/{outcome}") == status
    written = lines()
    detail = _of(written, f"detail {outcome} 0")
    released = [line for line in written if line.get("event.action") == "debug_released"]
    if reason is None:
        assert not detail and not released
        return
    assert len(detail) == 1 and detail[0]["log.level"] == "debug"
    assert [line["labels.debug_reason"] for line in released] == [reason]
    # Nothing over the bound: the message does not mention it ("0 not held" read as a loss).
    assert released[0]["message"] == f"request {reason}: writing its 1 held DEBUG records"
    assert detail[0]["tracking_id"] == released[0]["tracking_id"]
    tracking_id = detail[0]["tracking_id"]
    order = [line["message"] for line in written if line.get("tracking_id") == tracking_id]
    assert order.index(released[0]["message"]) < order.index(detail[0]["message"])
    access = [i for i, line in enumerate(written) if line["event"]["dataset"].endswith("access")]
    if access:
        assert written.index(detail[0]) < access[-1]


@pytest.mark.parametrize("make_app", FRAMEWORKS)
def test_held_records_are_bounded_per_request(pipeline: Any, make_app: Any) -> None:
    """250 DEBUG lines in a failing request, 200 held: 200 written in order, and the
    debug_released line counts the 50 that were not kept."""
    settings = Settings(service_name="lib-test", debug_on_failure=True)
    lines = pipeline(debug_on_failure=True, debug_held_per_request=200)
    get = make_app(settings)
    assert get("/detail/many-250") == 500
    written = lines()
    detail = [line for line in written if line["message"].startswith("detail many-250 ")]
    assert [line["message"] for line in detail] == [f"detail many-250 {n}" for n in range(200)]
    released = [line for line in written if line.get("event.action") == "debug_released"]
    assert released[0]["labels.held_records"] == 200
    assert released[0]["labels.dropped_records"] == 50
    assert released[0]["message"].endswith("(50 more not held: over the bound)")


def test_held_records_are_bounded_per_worker() -> None:
    """The process-wide bound: once 5 records are held across requests, a 6th is counted,
    not kept; releasing a request frees its share."""
    gate = LevelGate(logging.INFO, per_request=100, per_worker=5)
    first, second = RequestScope("a", hold=True), RequestScope("b", hold=True)

    def debug_in(scope: RequestScope, count: int) -> None:
        token = scope_var.set(scope)
        try:
            for _ in range(count):
                record = logging.LogRecord("app", logging.DEBUG, __file__, 1, "d", (), None)
                assert gate.filter(record) is False
        finally:
            scope_var.reset(token)

    debug_in(first, 3)
    debug_in(second, 4)
    assert (len(first.held or []), len(second.held or []), second.dropped) == (3, 2, 2)
    assert gate.held_total == 5


def test_release_is_idempotent_and_drops_unformatted(pipeline: Any) -> None:
    """A succeeding request's held records are dropped without being formatted; a second
    release does nothing."""
    pipeline(debug_on_failure=True)

    class Exploding:
        def __str__(self) -> str:
            raise AssertionError("formatted a dropped record")

    scope = RequestScope("r", hold=True)
    token = scope_var.set(scope)
    try:
        log.debug("never formatted %s", Exploding())
    finally:
        scope_var.reset(token)
    assert scope.held is not None and len(scope.held) == 1
    assert release(scope, 200, 1_000) is False
    assert scope.held is None and release(scope, 500, 1_000) is False
