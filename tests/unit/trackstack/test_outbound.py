"""Tests for trackstack/outbound.py, requests.py and httpx.py: the headers a call carries and
its one dependency_call line."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from trackstack import TraceContext, bound
from trackstack.httpx import AsyncTrackingTransport, TrackingTransport

TRACE = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")


def _echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=dict(request.headers))


def _calls(lines: Any) -> list[dict[str, Any]]:
    return [line for line in lines() if line.get("event.action") == "dependency_call"]


def test_httpx_transport_adds_headers_and_logs_one_line(lines: Any) -> None:
    """Sync httpx: X-Tracking-ID and a child traceparent out, one dependency_call line."""
    client = httpx.Client(transport=TrackingTransport(httpx.MockTransport(_echo)))
    with bound("out-1", TRACE):
        sent = client.get("http://inventory.invalid/api/items?secret=x").json()
    assert sent["x-tracking-id"] == "out-1"
    _, trace_id, span_id, _ = sent["traceparent"].split("-")
    assert trace_id == TRACE.trace_id and span_id != TRACE.span_id
    (call,) = _calls(lines)
    assert call["tracking_id"] == "out-1" and call["span.id"] == span_id
    assert call["url.path"] == "/api/items" and "secret" not in str(call)
    assert call["http.response.status_code"] == 200


def test_async_httpx_transport_keeps_a_callers_own_header(lines: Any) -> None:
    """Async httpx: a header the caller set itself is kept."""

    async def call() -> dict[str, Any]:
        transport = AsyncTrackingTransport(httpx.MockTransport(_echo))
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get("http://x.invalid/", headers={"X-Tracking-ID": "mine"})
            return dict(response.json())

    with bound("out-2", TRACE):
        sent = asyncio.run(call())
    assert sent["x-tracking-id"] == "mine" and sent["traceparent"].startswith("00-")
    assert len(_calls(lines)) == 1


def test_no_request_no_headers() -> None:
    """Outside a request nothing is added and no trace is invented."""
    client = httpx.Client(transport=TrackingTransport(httpx.MockTransport(_echo)))
    sent = client.get("http://x.invalid/").json()
    assert "x-tracking-id" not in sent and "traceparent" not in sent
