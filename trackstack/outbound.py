"""Outbound calls: the headers that carry the request's tracking ID and a child span, and the
one ``event.action: dependency_call`` line per call (host and path, never the query).

``trackstack.requests`` and ``trackstack.httpx`` use these; any other client can too.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from trackstack.context import trace_var, tracking_id_var
from trackstack.ids import HEADER

log = logging.getLogger("trackstack.outbound")


def outbound_headers() -> tuple[dict[str, str], str | None]:
    """(headers for a call to another service, the child span ID the call runs under).

    ``X-Tracking-ID`` if a tracking ID is current; ``traceparent`` (and ``tracestate``)
    naming a new child span if a trace is current, else no trace headers and None.
    """
    headers: dict[str, str] = {}
    tracking_id, trace = tracking_id_var.get(), trace_var.get()
    if tracking_id:
        headers[HEADER] = tracking_id
    if trace is None:
        return headers, None
    child = trace.child()
    headers.update(child.headers())
    return headers, child.span_id


def log_dependency_call(
    method: str, url: str, status: int | None, duration_ns: int, span_id: str | None
) -> None:
    """One INFO line for an outbound call; ``status`` None means it failed without a response."""
    target = urlsplit(url)
    log.info(
        "dependency call %s %s%s -> %s",
        method,
        target.netloc,
        target.path,
        status or "failed",
        extra={
            "event.action": "dependency_call",
            "event.duration": duration_ns,
            "event.outcome": "success" if status and status < 400 else "failure",
            "destination.address": target.hostname,
            "url.domain": target.hostname,
            "url.path": target.path,
            "http.request.method": method,
            "http.response.status_code": status,
            "span.id": span_id,
        },
    )
