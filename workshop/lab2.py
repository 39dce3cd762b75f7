"""Lab 2: the root cause behind an error response (workshop/lab2.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

from service.fault_header import InjectedFault
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
    error_type: str  # the class's name, as the ERROR line's error.type gives it
    error_module: str  # where the class is defined: the one module an answer may put before it
    error_message: str
    detail: str  # the part of error_message that says what went wrong

    @classmethod
    def all(cls) -> list[Failure]:
        return [
            cls(
                f"/api/error?detail={quote(cause)}",
                {},
                RuntimeError.__name__,
                RuntimeError.__module__,
                f"simulated failure: {cause}",
                cause,
            )
            for cause in CAUSES
        ] + [
            cls(
                path,
                {"X-Fault": "error"},
                InjectedFault.__name__,
                InjectedFault.__module__,
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
        "error_module": mine.error_module,
        "error_message": mine.error_message,
        "detail": mine.detail,
        "others": [f"{other.error_type}: {other.error_message}" for other in others],
    }
    facts = {"tracking_id": tracking_id, "response": body}
    return Scenario(briefing, facts, expected, {"ID": tracking_id})


def overlap(message: str, fragment: str, detail: str) -> int:
    """The most characters that one occurrence of ``fragment`` in ``message`` shares with the
    ``detail`` part of it (0 if none does)."""
    starts = message.find(detail)
    best, at = 0, message.find(fragment)
    while at >= 0:
        shared = min(at + len(fragment), starts + len(detail)) - max(at, starts)
        best = max(best, shared)
        at = message.find(fragment, at + 1)
    return best


def check(expected: Mapping[str, Any], answer: str, count: Count) -> Verdict:
    qualified, _, fragment = answer.partition(":")
    module, _, error_type = normalize(qualified).rpartition(".")
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
    own_module = expected.get("error_module") or MODULES.get(expected["error_type"], "")
    if module and module != own_module.lower():
        return Verdict(
            False,
            f"{expected['error_type']} is not defined in {module}",
            "error.type gives the class name alone: write it so, or with the module that"
            " defines the class",
        )
    if fragment not in message:
        return Verdict(
            False,
            f'"{fragment}" is not in this request\'s error.message',
            "other requests failed in the same minute: filter on the exact tracking_id",
        )
    shared_with_detail = overlap(message, fragment, detail)
    if not shared_with_detail:
        return Verdict(
            False,
            f'"{fragment}" is true but says nothing about the cause',
            "every failure of this kind says that; quote the part that names what went wrong",
        )
    # A part other failures' messages share ("injected fault", "lock") names no cause of its own.
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
    if shared_with_detail < min(5, len(detail)):
        return Verdict(
            False,
            f'"{fragment}" is too short to name the cause',
            "quote at least 5 characters of the part that names what went wrong",
        )
    return Verdict(True, f"{expected['error_type']}: {expected['error_message']}")


# The one module an answer may name before each class (its __module__): builtins.RuntimeError.
MODULES = {failure.error_type: failure.error_module for failure in Failure.all()}
