"""Outbound propagation for ``httpx``: transports that add ``X-Tracking-ID`` and a child
``traceparent`` to every request and log one ``dependency_call`` line each.

    client = httpx.Client(transport=trackstack.httpx.TrackingTransport())
    client = httpx.AsyncClient(transport=trackstack.httpx.AsyncTrackingTransport())

Each wraps another transport (default httpx's own); headers the caller set are kept. The
duration is to the response headers (the body is streamed by the caller).
"""

from __future__ import annotations

import time

import httpx

from trackstack.outbound import log_dependency_call, outbound_headers


def _add_headers(request: httpx.Request) -> str | None:
    headers, span_id = outbound_headers()
    for name, value in headers.items():
        if name not in request.headers:
            request.headers[name] = value
    return span_id


class TrackingTransport(httpx.BaseTransport):
    """A sync httpx transport wrapping ``transport`` (default ``httpx.HTTPTransport()``)."""

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self.transport = transport or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        span_id = _add_headers(request)
        started = time.perf_counter_ns()
        status: int | None = None
        try:
            response = self.transport.handle_request(request)
            status = response.status_code
            return response
        finally:
            log_dependency_call(
                request.method, str(request.url), status, time.perf_counter_ns() - started, span_id
            )

    def close(self) -> None:
        self.transport.close()


class AsyncTrackingTransport(httpx.AsyncBaseTransport):
    """The async twin, wrapping ``transport`` (default ``httpx.AsyncHTTPTransport()``)."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.transport = transport or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        span_id = _add_headers(request)
        started = time.perf_counter_ns()
        status: int | None = None
        try:
            response = await self.transport.handle_async_request(request)
            status = response.status_code
            return response
        finally:
            log_dependency_call(
                request.method, str(request.url), status, time.perf_counter_ns() - started, span_id
            )

    async def aclose(self) -> None:
        await self.transport.aclose()
