"""What Elasticsearch must hold for one request, per endpoint (what service/api.py logs).

Every request has its access line. On top of that each endpoint's handler logs its own
lines, and two properties of the request add more: a replaced (invalid) client ID logs a
``tracking_id_refused`` WARNING, and confirmed per-request debug logs a ``debug_enabled``
audit line and DEBUG lines. The verifier turns each check into one bucket of a ``filters``
aggregation, so a batch of IDs is checked in one search.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from loadgen.manifest import Record
from loadgen.mix import ENDPOINTS


@dataclass(frozen=True)
class Check:
    key: str  # the aggregation bucket's name
    what: str  # how a report names it when it is missing
    query: dict[str, Any]


def _all(*clauses: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"filter": list(clauses)}}


def _term(field: str, value: str) -> dict[str, Any]:
    return {"term": {field: value}}


def access(path_prefix: str, service: str = "") -> Check:
    where = f" ({service})" if service else ""
    return Check(
        f"access {path_prefix}",
        f"access {path_prefix}{where}",
        _all(
            _term("event.dataset", "trackstack.access"),
            {"prefix": {"url.path": path_prefix}},
        ),
    )


def action(name: str, level: str = "") -> Check:
    clauses = [_term("event.action", name)]
    if level:
        clauses.append(_term("log.level", level))
    return Check(name, name + (f" {level.upper()}" if level else ""), _all(*clauses))


HANDLER_LINE = Check(
    "handler line",
    "handler line",
    _all(_term("event.dataset", "trackstack.app"), _term("log.logger", "service.api")),
)
STACK_TRACE = Check(
    "stack trace",
    "ERROR with error.stack_trace",
    _all(_term("log.level", "error"), {"exists": {"field": "error.stack_trace"}}),
)
DEBUG_LINE = Check("debug line", "DEBUG lines", _term("log.level", "debug"))

# Per endpoint, besides its own access line (see checks_for).
EXPECTED: dict[str, tuple[Check, ...]] = {
    "health": (),
    "users": (action("db_query"),),
    "names": (HANDLER_LINE,),
    "item": (),  # its one app line is DEBUG
    # The orders instance's access line for the call the first service made, and that
    # service's dependency_call line: one tracking ID across both services.
    "orders": (
        HANDLER_LINE,
        action("dependency_call"),
        access("/api/item", "the orders instance"),
    ),
    "login": (HANDLER_LINE,),
    "error": (HANDLER_LINE, STACK_TRACE),
    "slow": (HANDLER_LINE,),
    "jobs": (HANDLER_LINE, action("job_finished")),  # logged after the 202 went out
}
REPLACED_ID = (action("tracking_id_refused", "warning"),)
DEBUG_ON = (action("debug_enabled"), DEBUG_LINE)


# Where a secret could leak into a document: free text, and the query string as sent.
TEXT_FIELDS = ("message", "error.message", "error.stack_trace")


def mentions(text: str) -> dict[str, Any]:
    """Documents that contain ``text``: as a phrase in the free-text fields, or anywhere in
    ``url.query`` (a keyword, so a case-insensitive wildcard)."""
    return {
        "bool": {
            "should": [
                {"multi_match": {"query": text, "type": "phrase", "fields": list(TEXT_FIELDS)}},
                {"wildcard": {"url.query": {"value": f"*{text}*", "case_insensitive": True}}},
            ],
            "minimum_should_match": 1,
        }
    }


def own_access(endpoint: str) -> Check:
    route = ENDPOINTS[endpoint].route
    return access(route.split("?")[0].split("<")[0])


def checks_for(record: Record) -> tuple[Check, ...]:
    checks = (own_access(record.endpoint), *EXPECTED[record.endpoint])
    if record.replaced:
        checks += REPLACED_ID
    if record.debug:
        checks += DEBUG_ON
    return checks


def union(checks: Iterable[Iterable[Check]]) -> dict[str, Check]:
    """Every distinct check by key (one filters bucket each)."""
    return {check.key: check for group in checks for check in group}


def markdown_table() -> str:
    """The README's table of what the verifier looks for, generated from EXPECTED."""
    rows = ["| endpoint | documents each request must have |", "|---|---|"]
    for endpoint, checks in EXPECTED.items():
        words = [own_access(endpoint).what, *(check.what for check in checks)]
        rows.append(f"| `{endpoint}` | {', '.join(words)} |")
    rows.append(f"| + invalid client ID | {', '.join(c.what for c in REPLACED_ID)} |")
    rows.append(f"| + debug confirmed | {', '.join(c.what for c in DEBUG_ON)} |")
    return "\n".join(rows)
