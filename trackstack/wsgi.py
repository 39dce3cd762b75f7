"""WSGI middleware (PEP 3333): the request's tracking ID and trace, and the headers that say
so on every response. Framework-neutral: Flask's extension wraps ``app.wsgi_app`` with it.

Per request: choose the ID (``ids.choose`` under the policy), the span
(``TraceContext.for_request``), set both ContextVars, and reset them when the call returns.
Every response gets ``X-Tracking-ID``, ``traceparent`` (our span) and ``X-DateTime`` (ISO 8601
with the local offset, to the second).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from trackstack import envelope
from trackstack.context import RequestScope, scope_var, trace_var, tracking_id_var
from trackstack.errors import IncompleteBody
from trackstack.ids import HEADER, REQUEST_HEADERS, accept
from trackstack.logs import open_scope, release
from trackstack.tracecontext import TraceContext

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
ENVIRON_KEY = "trackstack.tracking_id"  # the chosen ID, for servers' access logs
SCOPE_KEY = "trackstack.scope"  # the request's RequestScope (user, held DEBUG records)
# Builds the body of the policy=reject answer: (method, path, tracking ID) -> JSON bytes.
RejectBody = Callable[[str, str, str], bytes]

log = logging.getLogger("trackstack")
_WSGI_KEYS = tuple("HTTP_" + name.upper().replace("-", "_") for name in REQUEST_HEADERS)


def envelope_reject_body(method: str, path: str, tracking_id: str) -> bytes:
    """The default 400 body: the envelope ``{"code","msg","data","tracking_id"}``."""
    return envelope.to_bytes(
        envelope.failure(method, path, 400, "invalid tracking ID", tracking_id)
    )


class HttpDate:
    """``X-DateTime`` text for now, formatted once per second."""

    def __init__(self) -> None:
        self._second, self._text = -1, ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._text = datetime.fromtimestamp(second).astimezone().isoformat()
            self._second = second
        return self._text


def refused_warning(reason: str, tracking_id: str) -> None:
    """The WARNING every adapter writes when a client's ID is refused; never the value."""
    log.warning(
        "refused client tracking ID (%s); using %s",
        reason,
        tracking_id,
        extra={"event.action": "tracking_id_refused", "labels.reason": reason},
    )


class CheckedInput:
    """``wsgi.input`` that raises IncompleteBody when the body ends before CONTENT_LENGTH.

    A server that frames the body itself (gunicorn sets ``wsgi.input_terminated``) hands the
    app whatever arrived before the client closed; without this check a truncated body would
    be parsed as if it were whole.
    """

    def __init__(self, stream: Any, length: int) -> None:
        self.stream = stream
        self.remaining = length

    def _account(self, data: bytes, wanted: int) -> bytes:
        self.remaining -= len(data)
        if len(data) < wanted:
            raise IncompleteBody(f"request body ended {self.remaining} bytes early")
        return data

    def read(self, size: int | None = -1) -> bytes:
        wanted = self.remaining if size is None or size < 0 else min(size, self.remaining)
        if wanted <= 0:
            return b""
        return self._account(self.stream.read(wanted), wanted)

    def readline(self, size: int | None = -1) -> bytes:
        wanted = self.remaining if size is None or size < 0 else min(size, self.remaining)
        if wanted <= 0:
            return b""
        line: bytes = self.stream.readline(wanted)
        if line.endswith(b"\n"):
            self.remaining -= len(line)
            return line
        return self._account(line, wanted)

    def __iter__(self) -> Any:
        return iter(self.readline, b"")


class ReleasingBody:
    """A response body that releases its request's held DEBUG records when the server closes
    it (PEP 3333 ``close()``), if nothing released them before."""

    def __init__(self, body: Iterable[bytes], scope: RequestScope, started_ns: int) -> None:
        self.body = body
        self.scope = scope
        self.started_ns = started_ns

    def __iter__(self) -> Any:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            release(self.scope, self.scope.status, time.perf_counter_ns() - self.started_ns)


class TrackingMiddleware:
    """``TrackingMiddleware(wsgi_app, policy="replace", reject_body=envelope_reject_body)``.

    ``policy``: replace | reject | ignore (``ids.choose``); under ``reject`` an invalid client
    ID is answered 400 with ``reject_body(method, path, new_id)`` and the app never runs.
    The chosen ID is also left in ``environ["trackstack.tracking_id"]``.
    """

    def __init__(
        self,
        app: WSGIApp,
        policy: str = "replace",
        reject_body: RejectBody = envelope_reject_body,
        date_header: bool = True,
    ) -> None:
        self.app = app
        self.policy = policy
        self.reject_body = reject_body
        self.clock = HttpDate() if date_header else None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        supplied = None
        if self.policy != "ignore":  # ids.choose, inlined: this runs on every request
            for key in _WSGI_KEYS:
                supplied = environ.get(key)
                if supplied is not None:
                    break
        tracking_id, refused = accept(supplied)
        trace = TraceContext.for_request(
            environ.get("HTTP_TRACEPARENT"), environ.get("HTTP_TRACESTATE")
        )
        environ[ENVIRON_KEY] = tracking_id
        length = environ.get("CONTENT_LENGTH")
        if length and length.isdigit() and int(length) > 0 and "wsgi.input" in environ:
            environ["wsgi.input"] = CheckedInput(environ["wsgi.input"], int(length))
        added = [(HEADER, tracking_id), *trace.headers().items()]
        clock = self.clock
        scope = environ[SCOPE_KEY] = open_scope(tracking_id, trace)
        started_ns = time.perf_counter_ns() if scope.held is not None else 0

        def start_with_id(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            scope.status = int(status[:3]) if status[:3].isdigit() else 0
            # No handler sets these itself, so appending cannot make a duplicate.
            headers.extend(added)
            if clock is not None:
                headers.append(("X-DateTime", clock.now()))
            return start_response(status, headers, exc_info)

        id_token = tracking_id_var.set(tracking_id)
        trace_token = trace_var.set(trace)
        scope_token = scope_var.set(scope)
        try:
            if refused is not None:
                refused_warning(refused, tracking_id)
                if self.policy == "reject":
                    body = self.reject_body(
                        environ.get("REQUEST_METHOD", "GET"),
                        environ.get("PATH_INFO", "/"),
                        tracking_id,
                    )
                    start_with_id(
                        "400 BAD REQUEST",
                        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
                    )
                    return [body]
            answer = self.app(environ, start_with_id)
            if scope.held is not None:
                # The access line's writer releases the held records first (gunicorn's
                # JsonLogger); on any other server, the end of the response does.
                return ReleasingBody(answer, scope, started_ns)
            return answer
        finally:
            scope_var.reset(scope_token)
            trace_var.reset(trace_token)
            tracking_id_var.reset(id_token)
