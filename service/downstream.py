"""Outbound HTTP calls that carry the tracking ID and a child traceparent, and log one
``event.action: dependency_call`` line each (host and path, never the query)."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from service import faults, tracking

log = logging.getLogger(__name__)


class _StaleConnectionRetry(Retry):
    """Retries a GET whose connection broke, but never one that timed out: a slow dependency
    asked twice would get double the load and the caller would wait twice as long."""

    def increment(  # type: ignore[override]
        self, method: str | None = None, url: str | None = None, *args: Any, **kwargs: Any
    ) -> Retry:
        if isinstance(kwargs.get("error"), ReadTimeoutError):
            raise kwargs["error"]
        return super().increment(method, url, *args, **kwargs)


class Downstream:
    def __init__(self, base_url: str, timeout_s: float) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.session = requests.Session()
        # A pooled keep-alive connection can be closed by the other side just as a request
        # goes out on it ("Remote end closed connection without response"): seen under load
        # when the downstream's keep-alive timer fired. GET is idempotent, so try it again
        # once on a fresh connection instead of failing the caller's request.
        retry = _StaleConnectionRetry(
            total=2, connect=2, read=1, status=0, other=0, allowed_methods={"GET"}
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))

    def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = f"{self.base_url}{path}"
        target = urlsplit(url)
        headers, child_span = tracking.outbound_headers()
        headers.update(faults.forwarded())
        started = time.perf_counter_ns()
        status: int | None = None
        try:
            response = self.session.get(url, params=params, headers=headers, timeout=self.timeout_s)
            status = response.status_code
            response.raise_for_status()
            return response.json()
        finally:
            log.info(
                "dependency call GET %s%s -> %s",
                target.netloc,
                target.path,
                status or "failed",
                extra={
                    "event.action": "dependency_call",
                    "event.duration": time.perf_counter_ns() - started,
                    "event.outcome": "success" if status and status < 400 else "failure",
                    "destination.address": target.hostname,
                    "url.domain": target.hostname,
                    "url.path": target.path,
                    "http.request.method": "GET",
                    "http.response.status_code": status,
                    "span.id": child_span,
                },
            )
