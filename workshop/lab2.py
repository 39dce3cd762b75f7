"""Lab 2: the root cause behind an error response (workshop/lab2.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

from workshop.kit import (
    Context,
    Count,
    Scenario,
    Verdict,
    normalize,
)

TITLE = "the root cause behind an error response"
ANSWER_FORM = "<error.type>: <part of error.message>"


CAUSES = (
    "card processor unavailable",
    "inventory lock timeout after 30 s",
    "ledger row 4711 is locked",
    "currency table has no rate for EUR",
    "coupon service returned an empty body",
    "address validator quota exceeded",
)
INJECTABLE = ("/api/users", "/api/names", "/api/item")


@dataclass(frozen=True)
class Failure:
    """A request that fails on purpose, and what its ERROR line will say."""

    path: str
    headers: dict[str, str]
    error_type: str
    error_message: str
    detail: str  # the part of error_message that says what went wrong

    @classmethod
    def all(cls) -> list[Failure]:
        return [
            cls(
                f"/api/error?detail={quote(cause)}",
                {},
                "RuntimeError",
                f"simulated failure: {cause}",
                cause,
            )
            for cause in CAUSES
        ] + [
            cls(
                path,
                {"X-Fault": "error"},
                "InjectedFault",
                f"injected fault on GET {path}",
                f"injected fault on GET {path}",
            )
            for path in INJECTABLE
        ]


def create(ctx: Context) -> Scenario:
    failures = Failure.all()
    ctx.rng.shuffle(failures)
    mine, others = failures[0], failures[1:7]
    response = ctx.crowd(
        partial(ctx.send, "GET", mine.path, mine.headers),
        16,
        [partial(ctx.send, "GET", other.path, other.headers) for other in others],
    )
    body = response.json()
    tracking_id = body["tracking_id"]
    ctx.wait_for(tracking_id, 3)
    briefing = f"""A customer writes: "It failed again! The page showed this:
  {json.dumps(body, separators=(",", ":"))}"
Several requests failed in the same minute.

Find the root cause of THIS customer's failure: the exception's type and what its message
says went wrong."""
    expected = {
        "tracking_id": tracking_id,
        "error_type": mine.error_type,
        "error_message": mine.error_message,
        "detail": mine.detail,
        "others": [f"{other.error_type}: {other.error_message}" for other in others],
    }
    facts = {"tracking_id": tracking_id, "response": body}
    return Scenario(briefing, facts, expected, {"ID": tracking_id})


def check(expected: Mapping[str, Any], answer: str, count: Count) -> Verdict:
    error_type, _, fragment = answer.partition(":")
    error_type = normalize(error_type).rsplit(".", 1)[-1]
    fragment = normalize(fragment)
    if not error_type or not fragment:
        absent = [
            what
            for what, value in (
                ("the error.type", error_type),
                ("a part of error.message", fragment),
            )
            if not value
        ]
        return Verdict(False, f"the answer needs {', '.join(absent)}", f"answer as: {ANSWER_FORM}")
    if "internal error" in fragment or error_type.startswith(("get ", "post ")):
        return Verdict(
            False,
            "that is the response body's msg, which never says why (on purpose)",
            "open the ERROR line (log.level: error) of that tracking ID: error.type and"
            " error.message are there",
        )
    message, detail = expected["error_message"].lower(), expected["detail"].lower()
    others = [other.lower() for other in expected.get("others", [])]
    theirs = [other for other in others if fragment in other.partition(": ")[2]]
    if fragment not in message and theirs:
        return Verdict(
            False,
            f"\"{fragment}\" is another request's failure ({theirs[0]}), not this customer's",
            "several requests failed in the same minute: filter on the exact tracking_id from"
            " the customer's body",
        )
    if error_type != expected["error_type"].lower():
        return Verdict(
            False,
            f"{error_type} is not this request's exception",
            "open the ERROR line of that tracking ID and copy its error.type field"
            " (the access line only says 500)",
        )
    at, starts = message.find(fragment), message.find(detail)
    if at < 0:
        return Verdict(
            False,
            f'"{fragment}" is not in this request\'s error.message',
            "other requests failed in the same minute: filter on the exact tracking_id",
        )
    overlap = min(at + len(fragment), starts + len(detail)) - max(at, starts)
    if overlap < min(5, len(detail)):
        return Verdict(
            False,
            f'"{fragment}" is true but says nothing about the cause',
            "every failure of this kind says that; quote the part that names what went wrong",
        )
    # A part every failure of its kind shares ("injected fault", "on GET") names no cause.
    shared = [
        f"{failure.error_type}: {failure.error_message}"
        for failure in Failure.all()
        if failure.error_message.lower() != message and fragment in failure.error_message.lower()
    ]
    if shared:
        return Verdict(
            False,
            f'"{fragment}" is true of other failures too ({shared[0]})',
            "quote the part that names what went wrong in this request only",
        )
    return Verdict(True, f"{expected['error_type']}: {expected['error_message']}")
