"""The current request's tracking ID, trace and scope (its user, its held DEBUG records), and
ways to keep them in background work.

All three live in ContextVars. Adapters set them per request and reset them when it ends
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


MAX_USER_ID_CHARS = 128


class RequestScope:
    """What one request's lines share besides its ID: ``user_id`` once a handler knows it
    (``set_user``), and the DEBUG records held back until the request's outcome is known
    (``held``: None when failure-triggered debug is off; see ``trackstack.logs``), and its
    ``trace`` (W3C trace context) for the lines written after the ContextVars were reset.

    One mutable object per request, so a server that writes the access line after the
    adapter reset the ContextVars (gunicorn) can still read it from the WSGI environ.
    """

    __slots__ = ("dropped", "held", "status", "trace", "tracking_id", "user_id")

    def __init__(
        self, tracking_id: str | None = None, hold: bool = False, trace: TraceContext | None = None
    ) -> None:
        self.tracking_id = tracking_id
        self.trace = trace
        self.user_id: str | None = None
        self.held: list[Any] | None = [] if hold else None
        self.dropped = 0  # held records refused at the bound
        self.status = 0  # the response status, once started (WSGI)


scope_var: contextvars.ContextVar[RequestScope | None] = contextvars.ContextVar(
    "trackstack_scope", default=None
)


def set_user(user_id: str | int) -> None:
    """Put ``user.id`` (ECS) on every later line of the current request and on its access line.

    Call it once the handler knows who the caller is (after checking a token, a session...),
    from any framework: the adapters give each request its own scope. ``user_id``: a str or
    int, written as text, cut to 128 characters; never pass a secret (a token, an email the
    redaction rules would not catch). Raises RuntimeError outside a request or ``bound`` block.
    """
    scope = scope_var.get()
    if scope is None:
        raise RuntimeError("set_user() needs a request (or a trackstack.bound block)")
    scope.user_id = str(user_id)[:MAX_USER_ID_CHARS]


def current_user() -> str | None:
    """The user ID ``set_user`` gave the current request, or None."""
    scope = scope_var.get()
    return scope.user_id if scope is not None else None


def current_tracking_id() -> str | None:
    """The tracking ID of the request (or bound block) running now, or None outside one."""
    return tracking_id_var.get()


def current_trace() -> TraceContext | None:
    """The span the current request's lines belong to, or None outside a request."""
    return trace_var.get()


@contextmanager
def bound(tracking_id: str | None = None, trace: TraceContext | None = None) -> Iterator[str]:
    """Run a block under a tracking ID (a new one if None) and optional trace; yields the ID.
    The block has its own scope, so ``set_user`` works in it.

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
    scope_token = scope_var.set(RequestScope(tracking_id))
    try:
        yield tracking_id
    finally:
        scope_var.reset(scope_token)
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
