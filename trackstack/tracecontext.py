"""W3C trace context (https://www.w3.org/TR/trace-context/) through OpenTelemetry's API.

Parsing and writing ``traceparent``/``tracestate`` is OpenTelemetry's
``TraceContextTextMapPropagator``; trackstack only decides which span a request's lines
belong to. When the application already runs OpenTelemetry (a server span is current when
the request reaches trackstack), that span is used, so ``trace.id``/``span.id`` on the log
lines are the ones in its traces.
"""

from __future__ import annotations

import secrets
from typing import NamedTuple

from opentelemetry import trace as otel_trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

PROPAGATOR = TraceContextTextMapPropagator()
_NEW_TRACE_FLAGS = "01"  # sampled: nothing downstream should drop a trace we log


class TraceContext(NamedTuple):
    """One span's identity as it appears on log lines and headers.

    ``trace_id``: 32 lower-case hex digits; ``span_id``: 16; ``flags``: 2 (W3C trace-flags);
    ``tracestate``: the vendor list to pass on unchanged, or None.
    """

    trace_id: str
    span_id: str
    flags: str = _NEW_TRACE_FLAGS
    tracestate: str | None = None

    @classmethod
    def from_span_context(cls, span: otel_trace.SpanContext) -> TraceContext:
        return cls(
            otel_trace.format_trace_id(span.trace_id),
            otel_trace.format_span_id(span.span_id),
            f"{span.trace_flags:02x}",
            span.trace_state.to_header() or None if span.trace_state else None,
        )

    @classmethod
    def for_request(cls, traceparent: str | None, tracestate: str | None = None) -> TraceContext:
        """This request's span: the application's current OpenTelemetry span if it has one;
        else a new span, child of a valid incoming ``traceparent``; else a new trace.

        Invalid headers (malformed, all-zero IDs, version ``ff``, over 512 characters) are
        ignored as the W3C rules say, never an error.
        """
        current = otel_trace.get_current_span().get_span_context()
        if current.is_valid:
            return cls.from_span_context(current)
        if traceparent:
            carrier = {"traceparent": traceparent}
            if tracestate:
                carrier["tracestate"] = tracestate
            parent = otel_trace.get_current_span(PROPAGATOR.extract(carrier)).get_span_context()
            if parent.is_valid:
                return cls(
                    otel_trace.format_trace_id(parent.trace_id),
                    secrets.token_hex(8),
                    f"{parent.trace_flags:02x}",
                    parent.trace_state.to_header() or None if parent.trace_state else None,
                )
        ids = secrets.token_hex(24)  # one call for both: this runs on every request
        return cls(ids[:32], ids[32:])

    def child(self) -> TraceContext:
        """A new span in the same trace (an outbound call)."""
        return TraceContext(self.trace_id, secrets.token_hex(8), self.flags, self.tracestate)

    def headers(self) -> dict[str, str]:
        """``traceparent`` (and ``tracestate`` if any) naming this span: the text
        OpenTelemetry's propagator writes for it (``span_context()`` + ``PROPAGATOR.inject``;
        a test holds the two equal), built directly because it is on every response."""
        headers = {"traceparent": f"00-{self.trace_id}-{self.span_id}-{self.flags}"}
        if self.tracestate:
            headers["tracestate"] = self.tracestate
        return headers

    def span_context(self) -> otel_trace.SpanContext:
        """This span as OpenTelemetry's SpanContext (for ``PROPAGATOR.inject`` and friends)."""
        return otel_trace.SpanContext(
            int(self.trace_id, 16),
            int(self.span_id, 16),
            is_remote=False,
            trace_flags=otel_trace.TraceFlags(int(self.flags, 16)),
            trace_state=otel_trace.TraceState.from_header([self.tracestate])
            if self.tracestate
            else None,
        )
