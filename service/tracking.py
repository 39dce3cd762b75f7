"""Tracking IDs: pick one per request, keep it in a ContextVar, put it on the response and on
every log line. W3C ``traceparent`` rides along the same way.

Everything set here is reset when the request ends, because gunicorn's gevent worker serves
every keep-alive request of a connection on the same greenlet.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from service import envelope

HEADER = "X-Tracking-ID"
# WSGI names of the accepted request headers, in order of preference (DESIGN.md).
SOURCE_HEADERS = ("HTTP_X_TRACKING_ID", "HTTP_X_REQUEST_ID", "HTTP_X_CORRELATION_ID")
ENVIRON_KEY = "trackstack.tracking_id"
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")

log = logging.getLogger(__name__)

tracking_id_var: ContextVar[str | None] = ContextVar("tracking_id", default=None)
trace_var: ContextVar[TraceContext | None] = ContextVar("trace", default=None)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def is_valid(value: str) -> bool:
    return _VALID_ID.fullmatch(value) is not None


def new_id() -> str:
    return str(uuid.uuid4())


def invalid_reason(value: str) -> str:
    """Why a client's ID was refused, in words that never repeat the value itself."""
    if not value:
        return "empty"
    if len(value) > 128:
        return "too_long"
    return "bad_characters"


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str
    flags: str = "01"

    @classmethod
    def from_header(cls, header: str | None) -> TraceContext:
        """This request's span: a child of a valid incoming traceparent, else a new trace."""
        match = _TRACEPARENT.fullmatch(header.strip()) if header else None
        if match and match[1] != "ff" and set(match[2]) != {"0"} and set(match[3]) != {"0"}:
            return cls(match[2], secrets.token_hex(8), match[4])
        ids = secrets.token_hex(24)  # one call for both: this runs on every request
        return cls(ids[:32], ids[32:])

    def header(self, span_id: str | None = None) -> str:
        return f"00-{self.trace_id}-{span_id or self.span_id}-{self.flags}"


def outbound_headers() -> tuple[dict[str, str], str | None]:
    """Headers for a call to another service, and the child span ID the call runs under."""
    headers: dict[str, str] = {}
    tracking_id, trace = tracking_id_var.get(), trace_var.get()
    if tracking_id:
        headers[HEADER] = tracking_id
    if trace is None:
        return headers, None
    child = secrets.token_hex(8)
    headers["traceparent"] = trace.header(child)
    return headers, child


@contextmanager
def bound(tracking_id: str, trace: TraceContext | None = None) -> Iterator[str]:
    """Run a block (a background job, gunicorn's error path) under a tracking ID."""
    id_token = tracking_id_var.set(tracking_id)
    trace_token = trace_var.set(trace)
    try:
        yield tracking_id
    finally:
        trace_var.reset(trace_token)
        tracking_id_var.reset(id_token)


class TrackingMiddleware:
    """WSGI middleware: chooses the request's ID and puts it on whatever response leaves."""

    def __init__(self, app: WSGIApp, policy: str = "replace") -> None:
        self.app = app
        self.policy = policy

    def _choose(self, environ: dict[str, Any]) -> tuple[str, str | None]:
        """(tracking ID, reason the client's ID was refused or None)."""
        if self.policy != "ignore":
            for key in SOURCE_HEADERS:
                supplied = environ.get(key)
                if supplied is not None:
                    return (
                        (supplied, None)
                        if is_valid(supplied)
                        else (new_id(), invalid_reason(supplied))
                    )
        return new_id(), None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        tracking_id, refused = self._choose(environ)
        trace = TraceContext.from_header(environ.get("HTTP_TRACEPARENT"))
        environ[ENVIRON_KEY] = tracking_id

        def start_with_id(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            # No handler sets these two itself, so appending cannot make a duplicate.
            headers.append((HEADER, tracking_id))
            headers.append(("traceparent", trace.header()))
            return start_response(status, headers, exc_info)

        id_token = tracking_id_var.set(tracking_id)
        trace_token = trace_var.set(trace)
        try:
            if refused is not None:
                log.warning(
                    "refused client tracking ID (%s); using %s",
                    refused,
                    tracking_id,
                    extra={"event.action": "tracking_id_refused", "labels.reason": refused},
                )
                if self.policy == "reject":
                    return self._reject(environ, start_with_id, tracking_id)
            return self.app(environ, start_with_id)
        finally:
            trace_var.reset(trace_token)
            tracking_id_var.reset(id_token)

    @staticmethod
    def _reject(environ: dict[str, Any], start: StartResponse, tracking_id: str) -> list[bytes]:
        body = envelope.to_bytes(
            envelope.failure(
                environ.get("REQUEST_METHOD", "GET"),
                environ.get("PATH_INFO", "/"),
                400,
                "invalid tracking ID",
                tracking_id,
            )
        )
        start(
            "400 BAD REQUEST",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]


class TrackingFilter(logging.Filter):
    """Adds the current tracking ID and trace to every record that does not carry its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        if "tracking_id" not in fields:
            tracking_id = tracking_id_var.get()
            if tracking_id is not None:
                fields["tracking_id"] = tracking_id
        trace = trace_var.get()
        if trace is not None:
            fields.setdefault("trace.id", trace.trace_id)
            fields.setdefault("span.id", trace.span_id)
        return True
