"""Lab 3: one tracking ID across two services (workshop/lab3.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from workshop.kit import (
    FRONT,
    ORDERS,
    STATUS,
    Context,
    Count,
    Scenario,
    Verdict,
    incomplete,
    parse_fields,
    service_name,
    services_named,
)

TITLE = "one tracking ID across two services"
ANSWER_FORM = "service=<service.name> status=<HTTP status>"
# The fields the answer form names, written as keys, mean the keys.
ALIASES = {"service.name": "service", "http.response.status_code": "status"}


SLOWER_THAN_TIMEOUT_MS = 6000  # the service gives up on its dependency after 5 s (default)


def create(ctx: Context) -> Scenario:
    order = ctx.rng.randint(1000, 9999)
    late = ctx.rng.random() < 0.4
    fault = f"latency={SLOWER_THAN_TIMEOUT_MS}@{ORDERS}" if late else f"error@{ORDERS}"
    response = ctx.crowd(lambda: ctx.send("GET", f"/api/orders/{order}", {"X-Fault": fault}), 12)
    if late and response.status_code != 500:  # DOWNSTREAM_TIMEOUT_S is longer than 6 s
        late, fault = False, f"error@{ORDERS}"
        response = ctx.send("GET", f"/api/orders/{order}", {"X-Fault": fault})
    decoy = ctx.rng.randint(1000, 9999)
    ctx.send("GET", f"/api/orders/{decoy}", {"X-Fault": f"error@{FRONT}"})
    body = response.json()
    tracking_id = body["tracking_id"]
    if late:  # trackstack-orders answers (to nobody) after the caller gave up: wait for it
        time.sleep(SLOWER_THAN_TIMEOUT_MS / 1000 - 4)
    ctx.wait_for(tracking_id, 6, timeout_s=40)
    briefing = f"""A customer writes: "I could not see order {order}. The page showed this:
  {json.dumps(body, separators=(",", ":"))}"
trackstack-service answers /api/orders/<id> by calling trackstack-orders (/api/item).

Follow that tracking ID through both services: in which service did it go wrong, and what
HTTP status did THAT service answer with?"""
    expected = {
        "tracking_id": tracking_id,
        "service": ORDERS,
        "status": 200 if late else 500,
    }
    facts = {"tracking_id": tracking_id, "order": order}
    return Scenario(briefing, facts, expected, {"ID": tracking_id})


def check(expected: Mapping[str, Any], answer: str, count: Count) -> Verdict:
    values = parse_fields(answer, ["service", "status"], ALIASES)
    if problem := incomplete(ANSWER_FORM, values, ["service", "status"], {"status": STATUS}):
        return problem
    status = STATUS.value(values["status"])
    service = service_name(values["service"])
    late = expected["status"] == 200
    if len(services_named(values["service"])) > 1:
        return Verdict(
            False,
            f"{values['service']} names both services: the answer is the one where it went wrong",
            "compare the two services' lines of the request: which one failed first?",
        )
    if service == FRONT:
        return Verdict(
            False,
            f"{FRONT} is where the failure showed, not where it started",
            f"{FRONT}'s error says its dependency call failed: look for the same"
            f" tracking_id in the other service's lines (service.name {ORDERS})",
        )
    if service != expected["service"]:
        return Verdict(
            False,
            f"{values['service']} is not a service of this request",
            f"read service.name on the request's lines: {FRONT} and the one it called",
        )
    if status != expected["status"]:
        if late and status == 500:
            return Verdict(
                False,
                f"500 is what {FRONT} answered the customer, not what {ORDERS} answered",
                f"read http.response.status_code on {ORDERS}' own access line (GET /api/item),"
                " then compare its event.duration with the caller's dependency_call",
            )
        return Verdict(
            False,
            f"{status:g} is not what {expected['service']} answered",
            f"read the http.response.status_code of {ORDERS}' own access line (GET /api/item)"
            + (", not the caller's dependency_call" if late else ""),
        )
    if late:
        return Verdict(True, f"{expected['service']} answered 200, but after the caller gave up")
    return Verdict(True, f"{expected['service']} failed first (500); the caller only passed it on")
