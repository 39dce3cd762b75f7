"""Outbound HTTP calls to the other demo service, through trackstack's requests adapter (the
tracking ID, a child traceparent, one ``dependency_call`` line each)."""

from __future__ import annotations

from typing import Any

from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from service import faults
from trackstack.requests import tracking_session


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
        # A pooled keep-alive connection can be closed by the other side just as a request
        # goes out on it ("Remote end closed connection without response"): seen under load
        # when the downstream's keep-alive timer fired. GET is idempotent, so try it again
        # once on a fresh connection instead of failing the caller's request.
        retry = _StaleConnectionRetry(
            total=2, connect=2, read=1, status=0, other=0, allowed_methods={"GET"}
        )
        # trackstack's adapter adds X-Tracking-ID and a child traceparent, and logs one
        # dependency_call line per call.
        self.session = tracking_session(max_retries=retry)

    def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        response = self.session.get(
            f"{self.base_url}{path}",
            params=params,
            headers=faults.forwarded(),
            timeout=self.timeout_s,
        )
        response.raise_for_status()
        return response.json()
