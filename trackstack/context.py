"""The current request's tracking ID and trace, and ways to keep them in background work.

Both live in ContextVars. Adapters set them per request and reset them when it ends
(gunicorn's gevent worker serves every keep-alive request of a connection on one
greenlet, so whatever is not reset would leak into the next request). A new thread or
greenlet starts with an empty context: use the helpers below to carry the current one.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from trackstack.ids import is_valid, new_id
from trackstack.tracecontext import TraceContext

P = ParamSpec("P")
T = TypeVar("T")

tracking_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "trackstack_tracking_id", default=None
)
trace_var: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "trackstack_trace", default=None
)


def current_tracking_id() -> str | None:
    """The tracking ID of the request (or bound block) running now, or None outside one."""
    return tracking_id_var.get()


def current_trace() -> TraceContext | None:
    """The span the current request's lines belong to, or None outside a request."""
    return trace_var.get()


@contextmanager
def bound(tracking_id: str | None = None, trace: TraceContext | None = None) -> Iterator[str]:
    """Run a block under a tracking ID (a new one if None) and optional trace; yields the ID.

    For work outside a request: a scheduled job, a queue consumer, a CLI command. Both
    ContextVars are reset on exit, exception or not. Raises ValueError for an ID that
    ``ids.is_valid`` refuses (the value is not repeated in the message).
    """
    if tracking_id is None:
        tracking_id = new_id()
    elif not is_valid(tracking_id):
        raise ValueError("tracking ID must be 1-128 characters of [A-Za-z0-9._:-]")
    id_token = tracking_id_var.set(tracking_id)
    trace_token = trace_var.set(trace)
    try:
        yield tracking_id
    finally:
        trace_var.reset(trace_token)
        tracking_id_var.reset(id_token)


def carry_context(func: Callable[P, T]) -> Callable[P, T]:
    """``func`` wrapped to run in a copy of the context current NOW (at wrapping time)."""
    context = contextvars.copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return context.run(func, *args, **kwargs)

    return run


def start_thread(
    target: Callable[..., Any], *args: Any, daemon: bool = True, name: str | None = None
) -> threading.Thread:
    """Start ``target(*args)`` in a new thread that keeps the current tracking ID and trace."""
    thread = threading.Thread(target=carry_context(target), args=args, daemon=daemon, name=name)
    thread.start()
    return thread


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor whose tasks run in the context of the code that submitted them."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


def spawn_greenlet(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``gevent.spawn(func, *args, **kwargs)`` keeping the current tracking ID and trace.

    gevent is imported here, on first use, never by importing trackstack.
    """
    import gevent

    return gevent.spawn(contextvars.copy_context().run, func, *args, **kwargs)
