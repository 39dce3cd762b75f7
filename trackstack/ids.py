"""Tracking IDs: which header a request's ID comes from, which values are accepted, and
what happens to the others (the policy).

Accepted: 1-128 characters of ``[A-Za-z0-9._:-]``, so ``123456``, UUIDs and W3C trace-ids
pass and nothing that could break a log line, a header or a shell ever does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

HEADER = "X-Tracking-ID"
# Accepted request headers, in order of preference; the first present one is used.
REQUEST_HEADERS = ("X-Tracking-ID", "X-Request-ID", "X-Correlation-ID")
MAX_LENGTH = 128
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def is_valid(value: str) -> bool:
    """True if ``value`` is 1-128 characters of ``[A-Za-z0-9._:-]``."""
    return _VALID_ID.fullmatch(value) is not None


def uuid4_text(raw: bytes) -> str:
    """``str(uuid.UUID(bytes=raw, version=4))`` for 16 bytes ``raw``, without the UUID object
    (RFC 9562 section 5.4: version nibble 4, variant bits 10); a unit test holds the two equal.
    Built directly because every request without a client ID makes one."""
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{_VARIANT[text[16]]}{text[17:20]}-{text[20:32]}"


# The variant's top two bits are 10: the first hex digit of the 4th group keeps its low two.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_id() -> str:
    """A fresh ID: a random UUID4 in its 36-character text form (as ``str(uuid.uuid4())``)."""
    return uuid4_text(os.urandom(16))


def invalid_reason(value: str) -> str:
    """Why a client's ID was refused (empty | too_long | bad_characters); never repeats it."""
    if not value:
        return "empty"
    if len(value) > MAX_LENGTH:
        return "too_long"
    return "bad_characters"


def choose(header: Callable[[str], str | None], policy: str = "replace") -> tuple[str, str | None]:
    """The request's (tracking ID, reason the client's ID was refused or None).

    ``header(name)`` returns a request header's value or None; REQUEST_HEADERS are asked in
    order. Policies: ``replace`` a refused ID with a new one, ``reject`` (the same answer
    here; the adapter then answers 400), ``ignore`` every client ID and always generate.
    """
    if policy != "ignore":
        for name in REQUEST_HEADERS:
            supplied = header(name)
            if supplied is not None:
                return accept(supplied)
    return new_id(), None


def accept(supplied: str | None) -> tuple[str, str | None]:
    """(``supplied`` if valid else a new ID, reason it was refused or None); None: a new ID."""
    if supplied is None:
        return new_id(), None
    if is_valid(supplied):
        return supplied, None
    return new_id(), invalid_reason(supplied)
