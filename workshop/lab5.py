"""Lab 5: the slow dependency, by event.duration (workshop/lab5.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from workshop.kit import (
    FRONT,
    MILLISECONDS,
    ORDERS,
    Context,
    Count,
    Scenario,
    Verdict,
    incomplete,
    parse_fields,
    service_name,
    services_named,
)

TITLE = "the slow dependency, by event.duration"
ANSWER_FORM = "service=<service.name> path=<url.path> ms=<milliseconds>"
# The fields the answer form names, and Kibana's column title for event.duration in ms.
ALIASES = {"service.name": "service", "url.path": "path", "duration": "ms"}


def create(ctx: Context) -> Scenario:
    delay_ms = ctx.rng.randrange(900, 2500, 50)
    order = ctx.rng.randint(1000, 9999)
    headers = {"X-Fault": f"latency={delay_ms}@{ORDERS}"}
    # Around it: other orders with a little jitter in their dependency, and /api/slow calls
    # that are slow on their own, so the slowest lines of the minute are not all this request's.
    others = [
        (
            f"/api/orders/{ctx.rng.randint(1000, 9999)}",
            f"latency={ctx.rng.randrange(0, 150, 10)}@{ORDERS}",
        )
        for _ in range(10)
    ] + [(f"/api/slow?ms={ctx.rng.randrange(300, 900, 50)}", "") for _ in range(3)]
    response = ctx.crowd(
        partial(ctx.send, "GET", f"/api/orders/{order}", headers),
        4,
        [
            partial(ctx.send, "GET", path, {"X-Fault": fault} if fault else {})
            for path, fault in others
        ],
    )
    tracking_id = response.headers["X-Tracking-ID"]
    ctx.wait_for(tracking_id, 5)
    briefing = f"""A customer writes: "Opening order {order} took ages!" and quotes {tracking_id}.
trackstack-service answers /api/orders/<id> by calling trackstack-orders (/api/item).

Which hop took the time? Give the service, the url.path of its access line, and how long
that hop took in milliseconds (event.duration)."""
    expected = {
        "tracking_id": tracking_id,
        "service": ORDERS,
        "path": "/api/item",
        "ms": delay_ms,
        "caller_path": f"/api/orders/{order}",
    }
    facts = {"tracking_id": tracking_id, "order": order}
    return Scenario(briefing, facts, expected, {"ID": tracking_id})


def url_path(text: str) -> str:
    """The url.path an answer means: ``/api/item``, also written ``GET /api/item?sku=1`` (the
    access line's message) or ``http://127.0.0.1:8001/api/item?sku=1`` (url.full)."""
    text = re.sub(r"^(get|head|post|put|patch|delete|options)\s+", "", text)
    return urlsplit(text).path if "://" in text else text.split("?")[0]


def check(expected: Mapping[str, Any], answer: str, count: Count) -> Verdict:
    values = parse_fields(answer, ["service", "path", "ms"], ALIASES)
    keys = ["service", "path", "ms"]
    if problem := incomplete(ANSWER_FORM, values, keys, {"ms": MILLISECONDS}):
        return problem
    ms = MILLISECONDS.value(values["ms"])
    service, path = service_name(values["service"]), url_path(values["path"])
    # Answer files from before caller_path was kept: any order's path is the caller's.
    caller = expected.get("caller_path")
    callers = path == caller if caller else path.startswith("/api/orders/")
    if len(services_named(values["service"])) > 1:
        return Verdict(
            False,
            f"{values['service']} names both services: the answer is the hop that took the time",
            "compare the caller's access line, its dependency_call line and the callee's"
            " access line",
        )
    if service == FRONT and path == expected["path"]:
        return Verdict(
            False,
            f"{FRONT} {path} is the dependency_call line: the caller's view of the call",
            f"the hop that took the time is the callee: the access line {ORDERS} wrote for"
            " that call",
        )
    if service == FRONT and callers:
        return Verdict(
            False,
            f"{FRONT} {path} waited, but was it the slow part?",
            "a caller's access line includes the time it waited for its dependency: compare it"
            " with its dependency_call line and with the other service's access line",
        )
    if service != expected["service"] or path != expected["path"]:
        return Verdict(
            False,
            f"{values['service']} {path} is not a line of this request",
            f'filter tracking_id:"{expected["tracking_id"]}": its access lines are {FRONT}'
            f" GET {caller or '/api/orders/<id>'} and {ORDERS} GET {expected['path']}",
        )
    want = expected["ms"]
    tolerance = max(100, 0.15 * want)
    if abs(ms - want) > tolerance:
        # Name a wrong unit only when the number in that unit would be right.
        if abs(ms / 1e6 - want) <= tolerance:
            mistake, hint = "far too long", "event.duration is in nanoseconds: divide by 1 000 000"
        elif abs(ms * 1000 - want) <= tolerance:
            mistake = "too short"
            hint = f"that looks like seconds: write ms={ms * 1000:g}, or the unit: ms={ms:g} s"
        else:
            mistake = "not how long that hop took"
            hint = (
                "read event.duration of trackstack-orders' access line (Kibana shows it in ms;"
                " make trace prints ms; Elasticsearch stores nanoseconds)"
            )
        return Verdict(False, f"{ms:g} ms is {mistake}", hint)
    return Verdict(
        True,
        f"{expected['service']} {expected['path']} took about {expected['ms']} ms:"
        " the dependency, not trackstack-service itself",
    )
