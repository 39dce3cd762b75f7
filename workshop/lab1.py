"""Lab 1: every line of one request (workshop/lab1.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workshop.kit import (
    FRONT,
    ORDERS,
    Context,
    Count,
    Scenario,
    Verdict,
    incomplete,
    parse_fields,
    to_number,
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
    # line and the dependency call in trackstack-service, the callee's access line in
    # trackstack-orders, then trackstack-service's access line.
    if kind == "job":
        lines = response.json()["data"]["steps"] + 3
        by_service, until_response = {FRONT: lines}, 2
    else:
        lines, by_service, until_response = 4, {FRONT: 3, ORDERS: 1}, 4
    ctx.wait_for(tracking_id, lines)
    briefing = f"""A customer writes: "Something odd happened with my request. Support told me to
quote this number: {tracking_id}"

Find every log line of that request, in every service, and count them."""
    expected = {
        "tracking_id": tracking_id,
        "lines": lines,
        "request": path,
        "by_service": by_service,
        "until_response": until_response,
    }
    return Scenario(briefing, {"tracking_id": tracking_id}, expected, {"ID": tracking_id})


def check(expected: Mapping[str, Any], answer: str, count: Count) -> Verdict:
    values = parse_fields(answer, ["lines"])
    if problem := incomplete(ANSWER_FORM, values, ["lines"], numbers=["lines"]):
        return problem
    lines = to_number(values["lines"])
    want = expected["lines"]
    if lines == want:
        return Verdict(True, f"{want} lines: that is the whole story of the request")
    by_service: Mapping[str, int] = expected.get("by_service", {})
    if lines < want:
        if len(by_service) > 1 and lines in by_service.values():
            return Verdict(
                False,
                f"{lines:g} lines are one service's share: the request logged in two services",
                "search for the tracking ID alone, without a service.name filter: the caller"
                " passed the same X-Tracking-ID to the service it called",
            )
        if lines == expected.get("until_response"):
            return Verdict(
                False,
                f"{lines:g} lines stop at the access line, but the request kept logging after"
                " its response",
                "a background job carries the request's tracking ID: look past the access line"
                " (a time range that ends now, not at the response)",
            )
        return Verdict(
            False,
            f"{lines:g} lines is too few",
            "search for the tracking ID alone (no other filter) over a time range that covers"
            " the last hour; a request can log in two services, and after its response",
        )
    return Verdict(
        False,
        f"{lines:g} lines is too many: other requests' lines are in the count",
        'search for the exact value, quoted: tracking_id:"<id>" (a free-text search also finds'
        " other requests' lines)",
    )
