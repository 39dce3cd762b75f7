"""Lab 1: every line of one request (workshop/lab1.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workshop.kit import (
    FRONT,
    LINES,
    ORDERS,
    Context,
    Count,
    Scenario,
    Verdict,
    incomplete,
    parse_fields,
    plural,
)

TITLE = "every line of one request"
ANSWER_FORM = "lines=<number>"


def create(ctx: Context) -> Scenario:
    order = ctx.rng.randint(1000, 9999)
    kind = ctx.rng.choice(("job", "job", "order"))
    path = "/api/jobs" if kind == "job" else f"/api/orders/{order}"
    response = ctx.crowd(lambda: ctx.send("POST" if kind == "job" else "GET", path), 24)
    tracking_id = response.headers["X-Tracking-ID"]
    steps = response.json()["data"]["steps"] if kind == "job" else 0
    told = story(kind, steps)
    ctx.wait_for(tracking_id, told["lines"])
    briefing = f"""A customer writes: "Something odd happened with my request. Support told me to
quote this number: {tracking_id}"

Find every log line of that request, in every service, and count them."""
    expected = {"tracking_id": tracking_id, "request": path, **told}
    return Scenario(briefing, {"tracking_id": tracking_id}, expected, {"ID": tracking_id})


def story(kind: str, steps: int = 0) -> dict[str, Any]:
    """What the customer's request logs (``kind`` "job", with its ``steps``, or "order"): its
    ``lines``, how many each service wrote (``by_service``) and how many up to and including
    its access line (``until_response``).

    A job logs: queued, the access line, one line per step, finished; an order: the handler
    line, the dependency call and its step line in trackstack-service, the callee's access
    line in trackstack-orders, then trackstack-service's access line."""
    if kind == "job":
        return {"lines": steps + 3, "by_service": {FRONT: steps + 3}, "until_response": 2}
    return {"lines": 5, "by_service": {FRONT: 4, ORDERS: 1}, "until_response": 5}


def check(expected: Mapping[str, Any], answer: str, count: Count) -> Verdict:
    values = parse_fields(answer, ["lines"])
    if problem := incomplete(ANSWER_FORM, values, ["lines"], {"lines": LINES}):
        return problem
    lines = LINES.value(values["lines"])
    want, tracking_id = expected["lines"], expected.get("tracking_id", "")
    if lines == want:
        return Verdict(True, f"{want} lines: that is the whole story of the request")
    by_service: Mapping[str, int] = expected.get("by_service", {})
    if lines < want:
        if len(by_service) > 1 and lines in by_service.values():
            return Verdict(
                False,
                f"{plural(lines, 'line')} are one service's share: the request logged in two"
                " services",
                "search for the tracking ID alone, without a service.name filter: the caller"
                " passed the same X-Tracking-ID to the service it called",
            )
        if lines == expected.get("until_response"):
            # What the request wrote up to its response, whatever the attendee's search was.
            return Verdict(
                False,
                f"{plural(lines, 'line')} is what the request wrote up to its access line, but it"
                " kept logging after its response",
                "a background job carries the request's tracking ID: look past the access line"
                " (a time range that ends now, not at the response)",
            )
        return Verdict(
            False,
            f"{plural(lines, 'line')} is too few for request {tracking_id}",
            "search for the tracking ID alone (no other filter) over a time range that covers"
            " the last hour; a request can log in two services, and after its response",
        )
    # Too many has more than one cause (a free-text search, an older lab's ID, counting
    # output rows that are not log lines): say what is certain and how to count exactly.
    return Verdict(
        False,
        f"{plural(lines, 'line')} is more than request {tracking_id} wrote",
        f"count only the lines whose tracking_id is exactly {tracking_id} (the ID the last"
        f' `make lab N=1` printed): tracking_id:"{tracking_id}", quoted; `make trace` says'
        ' "N documents" in its first line',
    )
