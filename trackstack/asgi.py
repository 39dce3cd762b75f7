"""Pure ASGI middleware (ASGI 3, HTTP scope): tracking ID, trace, response headers, per-request
DEBUG, a JSON access line per response, and a JSON 500 for an unhandled exception.

Pure, not Starlette's ``BaseHTTPMiddleware``: it runs the app in the same task, so the
ContextVars it sets are the ones the app's code sees, and it resets them when the request
ends. It wraps ``send`` to add ``X-Tracking-ID``, ``traceparent`` and ``X-DateTime`` to the
response start, whoever sends it.

Use it as the outermost layer so that every response passes through it::

    app = FastAPI()
    app.add_middleware(TrackingMiddleware)   # or: app = TrackingMiddleware(FastAPI())

It answers an unhandled exception itself (ERROR line with the stack trace, then a 500 JSON
envelope with the headers) when no response has started: with ``add_middleware`` Starlette's
own error middleware sits outside it and would answer without them. If the response has
started, it logs and re-raises (the server closes the connection).

Access lines go to the ``trackstack.access`` logger (``event.dataset`` ``<prefix>.access``):
method, path, redacted query, status, body bytes, ``event.duration`` (ns), client.ip,
user agent, the tracking ID the response carried and ``user.id`` once the app called
``trackstack.set_user``. uvicorn's own access logger is then switched off, so each response
has exactly one access line. Just before it, the request's held DEBUG records are written if
it failed or was slow, else dropped (``trackstack.logs.release``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from trackstack import envelope
from trackstack.context import RequestScope, scope_var, trace_var, tracking_id_var
from trackstack.debug import REQUEST_HEADER, TOKEN_HEADER, decide, sampled, wants_debug
from trackstack.ids import HEADER, REQUEST_HEADERS, choose
from trackstack.logs import open_scope, release, request_debug_var, write_through
from trackstack.redact import Redactor
from trackstack.settings import Settings
from trackstack.tracecontext import TraceContext
from trackstack.wsgi import HttpDate, RejectBody, envelope_reject_body, refused_warning

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("trackstack")
access_log = logging.getLogger("trackstack.access")
_WANTED = {
    name.lower().encode("latin-1"): name
    for name in (
        *REQUEST_HEADERS,
        "traceparent",
        "tracestate",
        "User-Agent",
        REQUEST_HEADER,
        TOKEN_HEADER,
    )
}


def _write_through_on_shutdown(receive: Receive) -> Receive:
    """``receive`` for the lifespan scope: on ``lifespan.shutdown`` the pipeline starts
    writing each line before the call returns (``trackstack.logs.write_through``). The lines
    of the shutdown (the app's, and uvicorn's "Application shutdown complete." and
    "Finished server process") then cannot die queued when uvicorn re-raises SIGTERM."""

    async def receive_and_see() -> Message:
        message = await receive()
        if message["type"] == "lifespan.shutdown":
            write_through()
        return message

    return receive_and_see


class TrackingMiddleware:
    """``TrackingMiddleware(app, settings=None, *, reject_body=..., access_log=True,
    handle_errors=True)``.

    ``settings`` (default ``Settings.from_env()``) gives the ID policy, the debug token and
    the redaction words. Under policy ``reject`` an invalid client ID is answered 400 with
    ``reject_body(method, path, new_id)`` (default: the JSON envelope) and the app never runs.
    Other scopes pass through; on ``lifespan.shutdown`` every later line is written before
    its logging call returns (``trackstack.logs.write_through``).
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings | None = None,
        *,
        reject_body: RejectBody = envelope_reject_body,
        access_log: bool = True,
        handle_errors: bool = True,
    ) -> None:
        self.app = app
        self.settings = settings or Settings.from_env()
        self.reject_body = reject_body
        self.access_log = access_log
        self.handle_errors = handle_errors
        self.redactor = Redactor(self.settings.redact_keys)
        self.clock = HttpDate()
        if access_log:
            logging.getLogger("uvicorn.access").disabled = True  # ours replaces its line

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, _write_through_on_shutdown(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter_ns()
        wanted: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", ()):
            name = _WANTED.get(raw_name.lower())
            if name is not None and name not in wanted:  # the first one, as WSGI servers do
                wanted[name] = raw_value.decode("latin-1")
        tracking_id, refused = choose(wanted.get, self.settings.tracking_id_policy)
        trace = TraceContext.for_request(wanted.get("traceparent"), wanted.get("tracestate"))
        added = [(HEADER.lower().encode(), tracking_id.encode())] + [
            (k.encode(), v.encode("latin-1")) for k, v in trace.headers().items()
        ]
        response: dict[str, int] = {"status": 0, "bytes": 0}

        why, reason = None, None
        if wants_debug(wanted.get(REQUEST_HEADER)):
            reason = decide(wanted.get(TOKEN_HEADER), self.settings.debug_log_token)
            if reason is None:
                why = "token"
                added.append((REQUEST_HEADER.lower().encode(), b"on"))
        if why is None and sampled(self.settings.debug_sample_rate):
            why = "sampled"
        scope_state = open_scope(tracking_id, trace)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    *added,
                    (b"x-datetime", self.clock.now().encode()),
                ]
            elif message["type"] == "http.response.body":
                response["bytes"] += len(message.get("body", b""))
            await send(message)
            if (
                self.access_log
                and message["type"] == "http.response.body"
                and not message.get("more_body", False)
            ):
                # The response is complete: log it now, not when the app returns (a
                # BackgroundTasks job runs after this, inside the app call, and is not
                # part of the response's duration).
                response["logged"] = 1
                self._log_access(scope, wanted, tracking_id, response, started, scope_state)

        id_token = tracking_id_var.set(tracking_id)
        trace_token = trace_var.set(trace)
        scope_token = scope_var.set(scope_state)
        debug_token = request_debug_var.set(why) if why is not None else None
        try:
            if reason is not None:
                log.warning(
                    "debug logging refused (%s)",
                    reason,
                    extra={"event.action": "debug_refused", "labels.reason": reason},
                )
            if refused is not None:
                refused_warning(refused, tracking_id)
                if self.settings.tracking_id_policy == "reject":
                    body = self.reject_body(
                        scope.get("method", "GET"), scope.get("path", "/"), tracking_id
                    )
                    await _send_json(send_with_id, 400, body)
                    return
            if why is not None:
                self._log_debug_enabled(scope, why)
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                if not self.handle_errors:
                    raise
                log.error(
                    "unhandled %s on %s %s",
                    type(exc).__name__,
                    scope.get("method"),
                    scope.get("path"),
                    exc_info=exc,
                )
                if response["status"]:
                    release(scope_state, 500, time.perf_counter_ns() - started, failed=True)
                    raise  # headers are out; only the server can end this response
                body = envelope.to_bytes(
                    envelope.failure(
                        scope.get("method", "GET"),
                        scope.get("path", "/"),
                        500,
                        "internal error",
                        tracking_id,
                    )
                )
                await _send_json(send_with_id, 500, body)
        finally:
            if self.access_log and not response.get("logged"):
                self._log_access(scope, wanted, tracking_id, response, started, scope_state)
            release(scope_state, response["status"] or 500, time.perf_counter_ns() - started)
            if debug_token is not None:
                request_debug_var.reset(debug_token)
            scope_var.reset(scope_token)
            trace_var.reset(trace_token)
            tracking_id_var.reset(id_token)

    def _log_debug_enabled(self, scope: Scope, why: str) -> None:
        """The audit lines of a request that turned DEBUG on, as the Flask adapter writes
        them: INFO ``debug_enabled`` with the reason, then DEBUG "request summary" (headers
        and query redacted, the body's declared size)."""
        log.info(
            "debug logging enabled for this request (%s)",
            why,
            extra={"event.action": "debug_enabled", "labels.debug_reason": why},
        )
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in scope.get("headers", ())
        ]
        length = dict(headers).get("content-length", "")
        log.debug(
            "request summary",
            extra={
                "http.request.headers": self.redactor.headers(headers),
                "url.query": self.redactor.query(scope.get("query_string", b"").decode("latin-1")),
                "http.request.body.bytes": int(length) if length.isdigit() else 0,
            },
        )

    def _log_access(
        self,
        scope: Scope,
        wanted: dict[str, str],
        tracking_id: str,
        response: dict[str, int],
        started: int,
        scope_state: RequestScope,
    ) -> None:
        method, path, status = scope.get("method", "-"), scope.get("path", ""), response["status"]
        duration_ns = time.perf_counter_ns() - started
        release(scope_state, status, duration_ns)  # held DEBUG records first, or never
        client = scope.get("client")
        query = scope.get("query_string", b"").decode("latin-1")
        access_log.info(
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "event.action": "http_request",
                "http.request.method": method,
                "url.path": path,
                "url.query": self.redactor.query(query) if query else "",
                "http.version": scope.get("http_version"),
                "http.response.status_code": status,
                "http.response.body.bytes": response["bytes"],
                "event.duration": duration_ns,
                "client.ip": client[0] if client else None,
                "user_agent.original": wanted.get("User-Agent"),
                "tracking_id": tracking_id,
            },
        )


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
