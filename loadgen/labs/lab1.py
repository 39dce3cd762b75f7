"""Lab 1: every line of one request (docs/workshop/lab1.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadgen.labs.kit import (
    Context,
    Count,
    Scenario,
    Verdict,
    missing,
    number,
    parse_fields,
)

TITLE = "every line of one request"
ANSWER_FORM = "lines=<number>"


def create(ctx: Context) -> Scenario:
    order = ctx.rng.randint(1000, 9999)
    kind = ctx.rng.choice(("job", "job", "order"))
    path = "/api/jobs" if kind == "job" else f"/api/orders/{order}"
    response = ctx.crowd(lambda: ctx.send("POST" if kind == "job" else "GET", path), 24)
    tracking_id = response.headers["X-Tracking-ID"]
    # A job logs: queued, the access line, one line per step, finished; an order: the handler
    # line, the dependency call, the access lines of both services.
    lines = response.json()["data"]["steps"] + 3 if kind == "job" else 4
    ctx.wait_for(tracking_id, lines)
    briefing = f"""A customer writes: "Something odd happened with my request. Support told me to
quote this number: {tracking_id}"

Find every log line of that request, in every service, and count them."""
    return Scenario(
        briefing,
        {"tracking_id": tracking_id},
        {"tracking_id": tracking_id, "lines": lines, "request": path},
    )


def check(expected: Mapping[str, Any], answer: str, count: Count) -> Verdict:
    lines = number(parse_fields(answer, ["lines"]).get("lines"))
    if lines is None:
        return missing(ANSWER_FORM, "lines")
    if lines == expected["lines"]:
        return Verdict(True, f"{expected['lines']} lines: that is the whole story of the request")
    if lines < expected["lines"]:
        return Verdict(
            False,
            f"{lines:g} lines is too few",
            "search for the tracking ID alone (no other filter) over a time range that covers"
            " the last hour; a request can log in two services, and after its response",
        )
    return Verdict(
        False,
        f"{lines:g} lines is too many",
        'search for the exact value, quoted: tracking_id:"<id>" (a free-text search also finds'
        " other requests' lines)",
    )
