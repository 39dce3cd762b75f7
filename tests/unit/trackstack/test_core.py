"""The library's core imports no framework, and its context helpers carry the tracking ID into
threads, thread pools and greenlets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from trackstack import (
    ContextThreadPoolExecutor,
    bound,
    carry_context,
    current_tracking_id,
    spawn_greenlet,
    start_thread,
)

CORE = [
    "trackstack",
    "trackstack.context",
    "trackstack.debug",
    "trackstack.ecs",
    "trackstack.envelope",
    "trackstack.errors",
    "trackstack.ids",
    "trackstack.logs",
    "trackstack.outbound",
    "trackstack.redact",
    "trackstack.settings",
    "trackstack.tracecontext",
    "trackstack.writer",
    "trackstack.wsgi",
]
FORBIDDEN = (
    "flask",
    "werkzeug",
    "gunicorn",
    "gevent",
    "starlette",
    "fastapi",
    "uvicorn",
    "service",
    "orders",
    "loadgen",
    "requests",
    "httpx",
)


def test_core_imports_no_framework_or_demo() -> None:
    """Importing every core module (and writing a line) loads none of the frameworks."""
    code = (
        "import importlib, json, logging, sys\n"
        f"for name in {CORE!r}: importlib.import_module(name)\n"
        "import trackstack\n"
        "trackstack.configure_logging(trackstack.Settings())\n"
        "with trackstack.bound('x'): logging.getLogger('t').warning('hi')\n"
        "logging.getLogger().handlers[0].flush()\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stderr.strip().splitlines()[-1])
    bad = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN)
    assert not bad, f"the core imported {bad}"
    assert json.loads(result.stdout.splitlines()[-1])["tracking_id"] == "x"


def test_start_thread_keeps_the_id() -> None:
    """A thread started with start_thread sees the tracking ID of the code that started it."""
    seen: list[str | None] = []
    with bound("thread-1"):
        start_thread(lambda: seen.append(current_tracking_id())).join(5)
    assert seen == ["thread-1"]


def test_pool_tasks_keep_the_submitters_id() -> None:
    """Each task runs with the ID current when it was submitted, not when it runs."""
    with ContextThreadPoolExecutor(max_workers=2) as pool:
        futures = []
        for n in range(6):
            with bound(f"pool-{n}"):
                futures.append(pool.submit(current_tracking_id))
        assert [f.result() for f in futures] == [f"pool-{n}" for n in range(6)]


def test_carry_context_and_greenlet_keep_the_id() -> None:
    """carry_context wraps a callable; spawn_greenlet starts a greenlet in the same context."""
    with bound("carried"):
        wrapped = carry_context(current_tracking_id)
        greenlet = spawn_greenlet(current_tracking_id)
    assert wrapped() == "carried"
    assert greenlet.get(timeout=5) == "carried"


def test_bound_refuses_an_invalid_id_and_resets() -> None:
    """bound() with a bad ID raises ValueError without repeating it; the context is clean after."""
    with pytest.raises(ValueError, match="1-128") as raised:
        with bound("bad id"):
            pass
    assert "bad id" not in str(raised.value)
    with bound() as generated:
        assert current_tracking_id() == generated
    assert current_tracking_id() is None
