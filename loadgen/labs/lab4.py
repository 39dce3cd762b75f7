"""Lab 4: debug logging for one request, safely (docs/workshop/lab4.md)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from elasticsearch import ApiError, TransportError
from loadgen.labs.kit import (
    Context,
    Count,
    Scenario,
    Verdict,
    missing,
    number,
    parse_fields,
)

TITLE = "debug logging for one request, safely"
ANSWER_FORM = "debug=<number of DEBUG lines> reason=<labels.reason>"


DEBUG_LINES = {  # DEBUG lines one debug request writes: the request summary + the handler's
    "/api/users": 2,
    "/api/item": 2,
    "/api/names": 1,
}


def create(ctx: Context) -> Scenario:
    path = ctx.rng.choice(sorted(DEBUG_LINES))
    query = f"?sku=lab-{ctx.rng.randint(100, 999)}" if path == "/api/item" else ""
    yours = f"lab4-{uuid.uuid4().hex[:10]}"
    reason = ctx.rng.choice(("bad token", "missing token"))
    guess = {"X-Debug-Token": "letmein"} if reason == "bad token" else {}
    refused = ctx.crowd(lambda: ctx.send("GET", path, {"X-Debug-Log": "1", **guess}), 10)
    refused_id = refused.headers["X-Tracking-ID"]
    ctx.wait_for(refused_id, 2)
    briefing = f"""Support needs DEBUG lines for one request, and only that one. Send it yourself:
  GET {path}{query}  with X-Tracking-ID: {yours}, X-Debug-Log: 1 and the right X-Debug-Token
(the service's DEBUG_LOG_TOKEN: see the lab for where it lives).

Earlier, request {refused_id} also asked for debug logging and did not get it.

How many DEBUG lines did your request write, and why was the other one refused
(labels.reason of its WARNING)?"""
    facts = {"tracking_id": yours, "path": path + query, "refused_id": refused_id}
    expected = {
        "tracking_id": yours,
        "path": path,
        "debug_per_request": DEBUG_LINES[path],
        "refused_id": refused_id,
        "reason": reason,
    }
    return Scenario(briefing, facts, expected)


def check(expected: Mapping[str, Any], answer: str, count: Count) -> Verdict:
    values = parse_fields(answer, ["debug", "reason"])
    debug = number(values.get("debug"))
    if debug is None or "reason" not in values:
        return missing(ANSWER_FORM, "debug", "reason")
    try:
        sent = count(
            {
                "bool": {
                    "filter": [
                        {"term": {"tracking_id": expected["tracking_id"]}},
                        {"term": {"event.action": "debug_enabled"}},
                    ]
                }
            }
        )
    except (ApiError, TransportError) as exc:
        return Verdict(False, f"cannot ask Elasticsearch about your request: {exc}")
    if not sent:
        return Verdict(
            False,
            f"no debug_enabled line with tracking_id {expected['tracking_id']} yet",
            "send the request with X-Tracking-ID, X-Debug-Log: 1 and the token; the answer"
            " must say X-Debug-Log: on. Then wait a second for Filebeat",
        )
    wanted = expected["debug_per_request"] * sent
    if debug != wanted:
        return Verdict(
            False,
            f"{debug:g} DEBUG lines is not what your request wrote",
            f'filter tracking_id:"{expected["tracking_id"]}" and log.level:debug (the INFO'
            " audit line debug_enabled is not a DEBUG line)"
            + (f"; you sent it {sent} times: count them all" if sent > 1 else ""),
        )
    if values["reason"].replace("_", " ").replace("-", " ") != expected["reason"]:
        return Verdict(
            False,
            f'"{values["reason"]}" is not why {expected["refused_id"]} was refused',
            "open that request's WARNING (event.action: debug_refused) and read labels.reason",
        )
    return Verdict(
        True,
        f"{wanted} DEBUG line{'s' if wanted != 1 else ''}, and the other request was refused"
        f" ({expected['reason']}):"
        " only the token holder turns on DEBUG, and the token is never logged",
    )
