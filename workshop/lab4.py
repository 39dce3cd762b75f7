"""Lab 4: debug logging for one request, safely (workshop/lab4.md)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from workshop.kit import (
    LINES,
    Context,
    Count,
    Scenario,
    Verdict,
    incomplete,
    parse_fields,
    plural,
)

TITLE = "debug logging for one request, safely"
ANSWER_FORM = "debug=<number of DEBUG lines> reason=<labels.reason>"
ALIASES = {"labels.reason": "reason"}
# labels.reason of a debug_refused WARNING (trackstack.debug.decide); its message is
# "debug logging refused (<reason>)".
REASONS = ("bad token", "missing token", "feature off")


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
(the service's DEBUG_LOG_TOKEN: see the lab page for where it lives; its curl command sends
GET $REQUEST with $ID, from the line below).

Earlier, request {refused_id} also asked for debug logging and did not get it.

How many DEBUG lines did your request write, and why was the other one refused
(labels.reason of its WARNING)?"""
    facts = {"tracking_id": yours, "path": path + query, "refused_id": refused_id}
    expected = {
        "tracking_id": yours,
        "path": path,
        "request": path + query,
        "debug_per_request": DEBUG_LINES[path],
        "refused_id": refused_id,
        "reason": reason,
    }
    variables = {"ID": yours, "REQUEST": path + query, "REFUSED": refused_id}
    return Scenario(briefing, facts, expected, variables)


def _mine(expected: Mapping[str, Any], *filters: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"filter": [{"term": {"tracking_id": expected["tracking_id"]}}, *filters]}}


def check(expected: Mapping[str, Any], answer: str, count: Count) -> Verdict:
    """Judged against what Elasticsearch has for the attendee's tracking ID now: their requests
    (access lines), which of them went to the briefing's path, which got DEBUG on (the audit
    line) or were refused, and their DEBUG lines; so sending it twice, or to another path
    first, never turns a true count into a FAIL."""
    values = parse_fields(answer, ["debug", "reason"], ALIASES)
    if problem := incomplete(ANSWER_FORM, values, ["debug", "reason"], {"debug": LINES}):
        return problem
    debug = LINES.value(values["debug"])
    yours, path = expected["tracking_id"], expected["path"]
    access = {"term": {"event.dataset": "trackstack.access"}}
    sent = count(_mine(expected, access))
    enabled = count(_mine(expected, {"term": {"event.action": "debug_enabled"}}))
    refused = count(_mine(expected, {"term": {"event.action": "debug_refused"}}))
    if not (sent or enabled or refused):
        return Verdict(
            False,
            f"Elasticsearch has no line with tracking_id {yours}: your request is not there yet",
            "send it as the lab page shows (it sets X-Tracking-ID: $ID, X-Debug-Log: 1 and the"
            " token; the answer must say X-Debug-Log: on), then wait a second for Filebeat",
        )
    if not count(_mine(expected, access, {"term": {"url.path": path}})):
        return Verdict(
            False,
            f"none of your requests with tracking_id {yours} went to {path}"
            " (or the one that did is not searchable yet: a second after sending)",
            f"the briefing asks for GET {expected.get('request', path)}: paste the variables"
            " line `make lab N=4` printed, then run the page's curl command (it sends $REQUEST)",
        )
    if not enabled:
        return Verdict(
            False,
            "your request did not get DEBUG logging"
            + (": it was refused (a WARNING debug_refused with your ID)" if refused else ""),
            "send X-Debug-Log: 1 and the X-Debug-Token from .secrets/service.env, exactly as the"
            " page's command reads it; the response must say X-Debug-Log: on",
        )
    per_request = expected["debug_per_request"]
    have = count(_mine(expected, {"term": {"log.level": "debug"}}))
    if debug == have < per_request:
        # Fewer than one debug request to the path writes: its lines are not all searchable
        # yet, or the request that got DEBUG went to another path than the one sent plain.
        return Verdict(
            False,
            f"{plural(debug, 'DEBUG line')} is all Elasticsearch has of your ID so far, fewer"
            f" than one debug request to {path} writes",
            "count again in a second (a line is searchable about a second after it is"
            f" written); if it stays {debug:g}, your request with DEBUG on went to another"
            f" path: send it to {expected.get('request', path)}",
        )
    if debug not in (per_request, have):
        if debug in (per_request + 1, have + enabled):
            mistake = "the INFO audit line debug_enabled is not a DEBUG line"
        elif debug < have:
            # Only what is certain: the table's count and Elasticsearch's, not why they differ
            # (counted too early, or one of several debug requests, maybe to another path).
            mistake = (
                f"one debug request to {path} writes {plural(per_request, 'DEBUG line')}, and"
                f" Elasticsearch has {plural(have, 'DEBUG line')} with your ID now"
                + (f", from {enabled} requests with DEBUG on" if enabled > 1 else "")
            )
        else:
            mistake = "that is more lines than your ID has at DEBUG: count log.level:debug only"
        return Verdict(
            False,
            f"{plural(debug, 'DEBUG line')} is not what your request wrote: {mistake}",
            ("count again, " if debug < have else "")
            + f'filter tracking_id:"{yours}" and log.level:debug',
        )
    if problem := _reason_problem(values["reason"], expected):
        return problem
    return Verdict(
        True,
        f"{per_request} DEBUG line{'s' if per_request != 1 else ''} per debug request to {path},"
        f" and the other request was refused ({expected['reason']}):"
        " only the token holder turns on DEBUG, and the token is never logged",
    )


def _letters(text: str) -> str:
    """``Bad_Token``, ``bad-token`` and ``badtoken`` alike: the letters, lower case."""
    return re.sub(r"[^a-z]", "", text.lower())


def _reason_problem(given: str, expected: Mapping[str, Any]) -> Verdict | None:
    """None if ``given`` is the refused request's labels.reason (in any spelling, or as its
    WARNING's message); else the FAIL, which says "not why" only if ``given`` does not name it."""
    want = expected["reason"]
    if _letters(given) in (_letters(want), _letters(f"debug logging refused ({want})")):
        return None
    named = [reason for reason in REASONS if _letters(reason) in _letters(given)]
    if want in named:
        return Verdict(
            False,
            f'"{given}" names more than the reason',
            "answer with the value of labels.reason alone (one of: " + ", ".join(REASONS) + ")",
        )
    return Verdict(
        False,
        f'"{given}" is not why {expected["refused_id"]} was refused',
        "open that request's WARNING (event.action: debug_refused) and read labels.reason",
    )
