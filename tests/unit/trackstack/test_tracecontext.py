"""Tests for trackstack/tracecontext.py: W3C traceparent through OpenTelemetry's propagator,
and the application's own OpenTelemetry span when there is one."""

from __future__ import annotations

import pytest
from opentelemetry import trace as otel_trace

from trackstack import TraceContext
from trackstack.tracecontext import PROPAGATOR

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_child_of_a_valid_parent_keeps_trace_flags_and_state() -> None:
    """A valid traceparent: same trace, new span, its flags, its tracestate passed on."""
    trace = TraceContext.for_request(PARENT, "congo=t61rcWkgMzE")
    assert trace.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and trace.flags == "01"
    assert trace.span_id != "00f067aa0ba902b7" and len(trace.span_id) == 16
    headers = trace.headers()
    assert headers["traceparent"] == f"00-{trace.trace_id}-{trace.span_id}-01"
    assert headers["tracestate"] == "congo=t61rcWkgMzE"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("00-" + "0" * 32 + "-00f067aa0ba902b7-01", id="zero-trace-id"),
        pytest.param("00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01", id="zero-span-id"),
        pytest.param("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", id="version-ff"),
        pytest.param(PARENT + "-extra", id="version-00-with-extra"),
        pytest.param(PARENT + "x" * 600, id="over-512"),
        pytest.param("\udcff" * 3, id="undecodable"),
    ],
)
def test_invalid_parents_start_a_new_trace(header: str) -> None:
    """Headers the W3C rules refuse are ignored: a new trace, never an error."""
    trace = TraceContext.for_request(header)
    assert trace.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736" and len(trace.trace_id) == 32


def test_the_applications_current_span_wins() -> None:
    """When the app runs OpenTelemetry, its current span is the one on the lines."""
    span_context = otel_trace.SpanContext(
        0x0AF7651916CD43DD8448EB211C80319C,
        0xB7AD6B7169203331,
        is_remote=False,
        trace_flags=otel_trace.TraceFlags(1),
    )
    with otel_trace.use_span(otel_trace.NonRecordingSpan(span_context)):
        trace = TraceContext.for_request(PARENT)
    assert (trace.trace_id, trace.span_id) == (
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
    )


@pytest.mark.parametrize(
    ("traceparent", "tracestate"),
    [
        pytest.param(None, None, id="new-trace"),
        pytest.param(PARENT, None, id="child"),
        pytest.param(PARENT.replace("-01", "-00"), "a=1,b=2", id="unsampled-with-state"),
    ],
)
def test_headers_are_what_the_opentelemetry_propagator_writes(
    traceparent: str | None, tracestate: str | None
) -> None:
    """The response/outbound headers equal PROPAGATOR.inject's for the same span."""
    trace = TraceContext.for_request(traceparent, tracestate)
    for span in (trace, trace.child()):
        injected: dict[str, str] = {}
        context = otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(span.span_context()))
        PROPAGATOR.inject(injected, context)
        assert span.headers() == injected
