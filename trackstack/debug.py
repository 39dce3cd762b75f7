"""Per-request DEBUG logging, honoured only with the right token.

``X-Debug-Log: 1`` (or true/on) plus ``X-Debug-Token`` equal to the configured token turns
DEBUG on for that request alone; without a configured token the feature is off. The token is
compared in constant time and never logged or echoed. Adapters call ``decide`` and, when it
allows, set ``logs.request_debug_var`` for the request and reset it after.
"""

from __future__ import annotations

import hmac

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
