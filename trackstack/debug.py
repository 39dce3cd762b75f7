"""Per-request DEBUG logging: honoured only with the right token, or for a random sample.

``X-Debug-Log: 1`` (or true/on) plus ``X-Debug-Token`` equal to the configured token turns
DEBUG on for that request alone; without a configured token the feature is off. The token is
compared in constant time and never logged or echoed. ``DEBUG_SAMPLE_RATE`` (0..1) turns
DEBUG on for that share of requests (``sampled``). Adapters call ``decide`` / ``sampled``
and set ``logs.request_debug_var`` to the reason ("token" or "sampled") for the request,
reset it after, and write the audit line ``event.action: debug_enabled`` with
``labels.debug_reason``. Redaction is the same for every DEBUG line, whatever the reason.
"""

from __future__ import annotations

import hmac
import random

REQUEST_HEADER = "X-Debug-Log"
TOKEN_HEADER = "X-Debug-Token"  # noqa: S105 (a header name, not a secret)


def wants_debug(header_value: str | None) -> bool:
    """True for an ``X-Debug-Log`` value of 1, true or on (any case, spaces ignored)."""
    return (header_value or "").strip().lower() in ("1", "true", "on")


def decide(offered_token: str | None, expected_token: str | None) -> str | None:
    """None if DEBUG may be enabled, else why not: feature off | missing token | bad token."""
    if not expected_token:
        return "feature off"
    if not offered_token:
        return "missing token"
    if not hmac.compare_digest(
        offered_token.encode("utf-8", "surrogateescape"),
        expected_token.encode("utf-8", "surrogateescape"),
    ):
        return "bad token"
    return None


def sampled(rate: float) -> bool:
    """True for a ``rate`` share (0..1) of calls, at random; never for 0, always for 1."""
    return rate > 0 and random.random() < rate  # noqa: S311 (sampling, not a secret)
