"""Outbound propagation for ``requests``: a transport adapter that adds ``X-Tracking-ID`` and a
child ``traceparent`` to every request of a session and logs one ``dependency_call`` line.

    session = trackstack.requests.tracking_session()
    session.get("http://inventory/api/items")      # carries the current request's ID

Headers the caller set itself are left as they are. Retries configured on the adapter
(``max_retries``) happen inside one ``send``: one line per call.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from trackstack.outbound import log_dependency_call, outbound_headers


class TrackingHTTPAdapter(HTTPAdapter):
    """``requests.adapters.HTTPAdapter`` plus tracking headers and the dependency_call line."""

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        headers, span_id = outbound_headers()
        for name, value in headers.items():
            request.headers.setdefault(name, value)
        started = time.perf_counter_ns()
        status: int | None = None
        try:
            response = super().send(request, *args, **kwargs)
            status = response.status_code
            return response
        finally:
            log_dependency_call(
                request.method or "GET",
                request.url or "",
                status,
                time.perf_counter_ns() - started,
                span_id,
            )


def tracking_session(**adapter_kwargs: Any) -> requests.Session:
    """A Session whose http:// and https:// adapters are TrackingHTTPAdapter(**adapter_kwargs)."""
    session = requests.Session()
    session.mount("http://", TrackingHTTPAdapter(**adapter_kwargs))
    session.mount("https://", TrackingHTTPAdapter(**adapter_kwargs))
    return session
