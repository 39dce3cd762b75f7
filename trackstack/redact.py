"""Redaction of secrets in headers, query strings, JSON bodies and free text.

A key is secret when, lower-cased with ``-`` read as ``_``, it contains one of the words in
``DEFAULT_KEYS`` or in ``REDACT_KEYS`` (comma-separated, added to the defaults).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

MASK = "[REDACTED]"
DEFAULT_KEYS = (
    "authorization",
    "cookie",  # also set_cookie
    "password",
    "passwd",
    "secret",  # also client_secret
    "token",  # also access_token, x_debug_token, csrf_token
    "api_key",
    "apikey",
    "private_key",
    "session",
    "credential",
)


class Redactor:
    def __init__(self, extra_keys: Iterable[str] = ()) -> None:
        self.keys = tuple(
            dict.fromkeys((*DEFAULT_KEYS, *(k.replace("-", "_") for k in extra_keys)))
        )
        words = "|".join(re.escape(k).replace("_", "[-_]?") for k in self.keys)
        # key=value, key: value, "key": "value" and Bearer/Basic credentials inside free text.
        self._in_text = re.compile(
            rf"""(?ix)
            (\b[\w-]*(?:{words})[\w-]*["']?\s*[:=]\s*["']?)   # the key and its separator
            ((?:(?:bearer|basic)\s+)?[^\s"',;&}}]+)          # the value
            |\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+
            """
        )
        # What _in_text needs in an ASCII text to match at all, with "-" and "_" removed
        # (the pattern reads "_" in a key as [-_]?): one of these words.
        self._needles = tuple(
            dict.fromkeys((*(k.replace("_", "") for k in self.keys), "bearer", "basic"))
        )

    def is_secret(self, key: str) -> bool:
        name = key.lower().replace("-", "_")
        return any(word in name for word in self.keys)

    def headers(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        return {k: MASK if self.is_secret(k) else self.text(v) for k, v in headers}

    def query(self, query: str) -> str:
        if not query:
            return ""
        pairs = parse_qsl(query, keep_blank_values=True)
        return urlencode(
            [(k, MASK if self.is_secret(k) else self.text(v)) for k, v in pairs], safe="[]/"
        )

    def json(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                k: MASK if isinstance(k, str) and self.is_secret(k) else self.json(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def text(self, text: str) -> str:
        # Most lines name no secret: a few substring searches instead of the pattern's scan
        # at every word. Only for ASCII, where lower() is the pattern's IGNORECASE match;
        # Unicode case folding has more (the long s matches "s"), so other text is scanned.
        if text.isascii():
            squeezed = text.lower().replace("-", "").replace("_", "")
            if not any(map(squeezed.__contains__, self._needles)):
                return text
        return self._in_text.sub(self._mask_match, text)

    @staticmethod
    def _mask_match(match: re.Match[str]) -> str:
        if match[3]:
            return f"{match[3]} {MASK}"
        return f"{match[1]}{MASK}"


def shape(value: Any) -> Any:
    """The structure of a JSON value with every leaf replaced by its type name."""
    if isinstance(value, Mapping):
        return {str(k): shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:5]] + (
            [f"... {len(value) - 5} more"] if len(value) > 5 else []
        )
    return type(value).__name__
