"""trackstack: a tracking ID and W3C trace on every request, every log line one bounded ECS
JSON object, for any Flask, gunicorn or ASGI (FastAPI, Starlette) application.

The core (this package's top-level modules) imports no web framework. Adapters, each
importing only its own: ``trackstack.flask``, ``trackstack.gunicorn``, ``trackstack.asgi``;
outbound propagation: ``trackstack.requests``, ``trackstack.httpx``.

Public names here:

* ``Settings`` / ``ConfigError``: the library's settings (``Settings.from_env()``).
* ``configure_logging(settings)``: one JSON pipeline on the root logger; call once.
* ``current_tracking_id()`` / ``current_trace()``: the running request's ID / span.
* ``set_user(user_id)`` / ``current_user()``: ``user.id`` on the request's later lines and
  on its access line.
* ``step(name)``: a context manager / decorator writing one timed line per step.
* ``bound(tracking_id=None)``: a block (background job) under a tracking ID.
* ``carry_context(func)``, ``start_thread(target, *args)``, ``ContextThreadPoolExecutor``,
  ``spawn_greenlet(func, *args)``: background work that keeps the request's ID.
* ``outbound_headers()``: headers for a call to another service (ID + child traceparent).
* ``is_valid(value)`` / ``new_id()``: the tracking ID rule and generator.
* ``TraceContext``: one span's identity (W3C, via OpenTelemetry's propagator).
* ``EcsFormatter`` / ``Redactor``: the formatter and redaction, for custom pipelines.
"""

from trackstack.context import (
    ContextThreadPoolExecutor,
    bound,
    carry_context,
    current_trace,
    current_tracking_id,
    current_user,
    set_user,
    spawn_greenlet,
    start_thread,
)
from trackstack.ecs import EcsFormatter
from trackstack.ids import HEADER, is_valid, new_id
from trackstack.logs import configure_logging
from trackstack.outbound import outbound_headers
from trackstack.redact import Redactor
from trackstack.settings import ConfigError, Settings
from trackstack.steps import step
from trackstack.tracecontext import TraceContext

__all__ = [
    "HEADER",
    "ConfigError",
    "ContextThreadPoolExecutor",
    "EcsFormatter",
    "Redactor",
    "Settings",
    "TraceContext",
    "bound",
    "carry_context",
    "configure_logging",
    "current_trace",
    "current_tracking_id",
    "current_user",
    "is_valid",
    "new_id",
    "outbound_headers",
    "set_user",
    "spawn_greenlet",
    "start_thread",
    "step",
]
