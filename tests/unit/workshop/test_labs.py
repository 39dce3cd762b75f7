"""Tests for workshop/: reading answers, every lab's checker, the files, the command line,
and that the expected answers agree with what the service really logs."""

from __future__ import annotations

import dataclasses
import importlib
import json
import random
import re
import subprocess
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest

import workshop
from service import create_app
from setup.project import REPO, poll_until
from tests.helpers import DEBUG_TOKEN, captured_lines
from workshop import Lab, __main__, kit, lab1, lab2, lab3, lab4, lab5, lab7
from workshop.kit import Scenario, Verdict


@pytest.fixture
def labs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LABS_DIR", str(tmp_path))
    return tmp_path


def never_asked(query: dict[str, Any]) -> int:
    raise AssertionError("this lab's checker must not ask Elasticsearch")


# --- reading answers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "keys", "fields"),
    [
        pytest.param("lines=6", ["lines"], {"lines": "6"}, id="one-key"),
        pytest.param(" 6 ", ["lines"], {"lines": "6"}, id="bare-value-is-the-first-key"),
        pytest.param(
            "service=trackstack-orders status=500",
            ["service", "status"],
            {"service": "trackstack-orders", "status": "500"},
            id="spaces-between",
        ),
        pytest.param(
            "Debug: 2, Reason: 'Bad Token'",
            ["debug", "reason"],
            {"debug": "2", "reason": "bad token"},
            id="colons-commas-quotes-case",
        ),
        pytest.param(
            "reason=missing token;debug=1",
            ["debug", "reason"],
            {"debug": "1", "reason": "missing token"},
            id="any-order-value-with-space",
        ),
        pytest.param("status=", ["service", "status"], {}, id="empty-value-dropped"),
    ],
)
def test_parse_fields(answer: str, keys: list[str], fields: dict[str, str]) -> None:
    """key=value pairs in any order and separator; values keep inner spaces; case folded."""
    assert kit.parse_fields(answer, keys) == fields


@pytest.mark.parametrize(
    ("spec", "text", "value"),
    [
        pytest.param(kit.LINES, "6", 6.0, id="count-bare"),
        pytest.param(kit.LINES, "7 lines", 7.0, id="count-with-its-unit"),
        pytest.param(kit.LINES, "1 line", 1.0, id="count-singular-unit"),
        pytest.param(kit.LINES, "6.0", 6.0, id="count-whole-float"),
        pytest.param(kit.MILLISECONDS, "~1234 ms", 1234.0, id="ms-about"),
        pytest.param(kit.MILLISECONDS, "2.5", 2.5, id="ms-fraction"),
        pytest.param(kit.MILLISECONDS, "1200ms", 1200.0, id="ms-unit-no-space"),
        pytest.param(kit.MILLISECONDS, "1.2 s", 1200.0, id="ms-in-seconds"),
        pytest.param(kit.MILLISECONDS, "1.2 seconds", 1200.0, id="ms-in-seconds-long"),
        pytest.param(kit.MILLISECONDS, "1203456789 ns", 1203.456789, id="ms-in-nanoseconds"),
        pytest.param(kit.MILLISECONDS, "1203456789 nanoseconds", 1203.456789, id="ms-in-ns-long"),
        pytest.param(kit.STATUS, "500", 500.0, id="status-bare"),
        pytest.param(kit.STATUS, "http 500", 500.0, id="status-http"),
        pytest.param(kit.STATUS, "500 internal server error", 500.0, id="status-with-phrase"),
        pytest.param(kit.STATUS, "500.", 500.0, id="status-ending-a-sentence"),
        pytest.param(kit.LINES, "6 lines.", 6.0, id="count-ending-a-sentence"),
        pytest.param(kit.LINES, "six", None, id="count-word"),
        pytest.param(kit.LINES, "6.5", None, id="count-not-whole"),
        pytest.param(kit.LINES, "~6", None, id="count-about"),
        pytest.param(kit.LINES, "6 ms", None, id="count-with-a-duration-unit"),
        pytest.param(kit.MILLISECONDS, "1200 lines", None, id="ms-with-a-count-unit"),
        pytest.param(kit.STATUS, "500 ms", None, id="status-with-a-unit"),
        pytest.param(kit.STATUS, "500 ok", None, id="status-with-another-codes-phrase"),
        pytest.param(kit.STATUS, "999", None, id="status-no-such-code"),
    ],
)
def test_number_reads_only_its_own_units(spec: kit.Number, text: str, value: float | None) -> None:
    """A number reads bare or with one of its own units (converted: 1.2 s is 1200 ms), a status
    with its own reason phrase; a count is whole and exact; anything else is not read."""
    got, problem = spec.read(text)
    assert got == pytest.approx(value) if value is not None else got is None
    assert bool(problem) is (value is None)


# --- every checker ------------------------------------------------------------------------------

LAB1 = {"tracking_id": "t1", "lines": 6}
LAB2 = {
    "tracking_id": "t2",
    "error_type": "RuntimeError",
    "error_message": "simulated failure: ledger row 4711 is locked",
    "detail": "ledger row 4711 is locked",
}
LAB2_INJECTED = {
    "tracking_id": "t2",
    "error_type": "InjectedFault",
    "error_message": "injected fault on GET /api/users",
    "detail": "injected fault on GET /api/users",
}
LAB2_LOCK = LAB2 | {
    "error_message": "simulated failure: inventory lock timeout after 30 s",
    "detail": "inventory lock timeout after 30 s",
}
LAB2_DECOYS = LAB2 | {"others": ["RuntimeError: simulated failure: card processor unavailable"]}
LAB3 = {"tracking_id": "t3", "service": "trackstack-orders", "status": 200}
LAB3_FAILED = LAB3 | {"status": 500}
LAB1_ORDER = LAB1 | {"lines": 4, "by_service": {"trackstack-service": 3, "trackstack-orders": 1}}
LAB1_JOB = LAB1 | {"by_service": {"trackstack-service": 6}, "until_response": 2}
LAB5 = {"tracking_id": "t5", "service": "trackstack-orders", "path": "/api/item", "ms": 1200}
LAB6 = {"prefix": "lab6-abc-", "total": 120, "during": 80}
LAB7 = {"tracking_id": "t7", "coupon": "LEGACY-4821"}


@pytest.mark.parametrize(
    ("lab", "expected", "answer", "passed", "says"),
    [
        pytest.param(1, LAB1, "lines=6", True, "whole story", id="1-right"),
        pytest.param(1, LAB1, "6", True, "", id="1-bare-number"),
        pytest.param(1, LAB1, "lines=3", False, "two services", id="1-too-few"),
        pytest.param(1, LAB1_ORDER, "lines=3", False, "one service's share", id="1-one-service"),
        pytest.param(1, LAB1_JOB, "lines=2", False, "after its response", id="1-until-response"),
        pytest.param(1, LAB1_JOB, "lines=6", True, "", id="1-job"),
        pytest.param(1, LAB1, "lines=9", False, "quoted", id="1-too-many"),
        pytest.param(1, LAB1, "many", False, "lines=<number>", id="1-not-a-number"),
        pytest.param(2, LAB2, "RuntimeError: ledger row 4711 is locked", True, "", id="2-right"),
        pytest.param(
            2,
            LAB2,
            "builtins.RuntimeError: 'Simulated failure: ledger row'",
            True,
            "",
            id="2-qualified-type-quoted-part",
        ),
        pytest.param(2, LAB2, "HTTPError: ledger row 4711", False, "error.type", id="2-type"),
        pytest.param(2, LAB2, "RuntimeError: disk full", False, "tracking_id", id="2-decoy"),
        pytest.param(
            2, LAB2, "RuntimeError: simulated failure", False, "names what", id="2-too-generic"
        ),
        pytest.param(2, LAB2, "RuntimeError", False, "error.message", id="2-no-message"),
        pytest.param(
            2,
            LAB2_DECOYS,
            "RuntimeError: card processor unavailable",
            False,
            "another request",
            id="2-another-requests-failure",
        ),
        pytest.param(
            2, LAB2, "GET /api/error failed: internal error", False, "body's msg", id="2-body-msg"
        ),
        pytest.param(
            2,
            LAB2_INJECTED,
            "service.fault_header.InjectedFault: injected fault on GET /api/users",
            True,
            "",
            id="2-injected",
        ),
        # A module before the class passes only if it is the class's own (its __module__).
        pytest.param(
            2,
            LAB2_INJECTED,
            "service.faults.InjectedFault: injected fault on GET /api/users",
            False,
            "not defined in service.faults",
            id="2-injected-other-module",
        ),
        pytest.param(
            2, LAB2, "myapp.errors.RuntimeError: row 4711", False, "module", id="2-made-up-module"
        ),
        pytest.param(2, LAB2_LOCK, "RuntimeError: lock", False, "ledger row", id="2-lock-shared"),
        pytest.param(2, LAB2_LOCK, "RuntimeError: 30 s", False, "too short", id="2-too-short"),
        pytest.param(2, LAB2_LOCK, "RuntimeError: lock timeout", True, "", id="2-lock-timeout"),
        pytest.param(
            2,
            LAB2_INJECTED,
            "InjectedFault: injected fault",
            False,
            "other failures too",
            id="2-injected-shared-part",
        ),
        pytest.param(
            2, LAB2_INJECTED, "InjectedFault: on GET", False, "names what", id="2-injected-on-get"
        ),
        pytest.param(3, LAB3, "service=trackstack-orders status=200", True, "", id="3-right"),
        pytest.param(3, LAB3_FAILED, "service=orders status=500", True, "", id="3-short-name"),
        pytest.param(3, LAB3, "service=Orders, status: 200", True, "", id="3-short-name-case"),
        pytest.param(
            3,
            LAB3,
            "service=service status=500",
            False,
            "where the failure showed",
            id="3-short-caller",
        ),
        pytest.param(
            3,
            LAB3,
            "service=trackstack-orders status=500",
            False,
            "answered the customer",
            id="3-callers-status",
        ),
        pytest.param(
            3, LAB3, "service=payments status=200", False, "not a service", id="3-no-such"
        ),
        pytest.param(
            3, LAB3, "service=trackstack-service status=500", False, "other service", id="3-caller"
        ),
        pytest.param(
            3, LAB3, "service=trackstack-orders status=500", False, "event.duration", id="3-late"
        ),
        pytest.param(3, LAB3, "trackstack-orders", False, "status", id="3-no-status"),
        pytest.param(
            5, LAB5, "service=trackstack-orders path=/api/item ms=1212", True, "", id="5-right"
        ),
        pytest.param(
            5,
            LAB5,
            "service=trackstack-orders path=/api/item?sku=sku-1 ms=~1.3e3",
            False,
            "ms",
            id="5-unreadable-ms",
        ),
        pytest.param(
            5,
            LAB5,
            "service=trackstack-service path=/api/orders/42 ms=1220",
            False,
            "dependency_call",
            id="5-the-caller",
        ),
        pytest.param(
            5,
            LAB5,
            "service=trackstack-orders path=/api/item ms=1203456789",
            False,
            "nanoseconds",
            id="5-nanoseconds",
        ),
        pytest.param(
            5, LAB5, "service=trackstack-orders path=/api/item ms=300", False, "ms", id="5-wrong-ms"
        ),
        pytest.param(5, LAB5, "service=orders path=/api/item ms=1150", True, "", id="5-short-name"),
        pytest.param(
            5,
            LAB5,
            "service=trackstack-service path=/api/item ms=1210",
            False,
            "the caller's view",
            id="5-the-dependency-call-line",
        ),
        pytest.param(7, LAB7, "coupon=LEGACY-4821", True, "before the migration", id="7-right"),
        pytest.param(7, LAB7, "legacy-4821", True, "", id="7-bare-lower-case"),
        pytest.param(7, LAB7, "coupon=WELCOME10", False, "ordinary coupon", id="7-decoy"),
        pytest.param(7, LAB7, "coupon=percent", False, "ERROR line says", id="7-error-text"),
        pytest.param(7, LAB7, "coupon=LEGACY-1111", False, "not the coupon", id="7-other"),
        pytest.param(7, LAB7, "coupon=4821", False, "part of the coupon", id="7-part-of-code"),
        pytest.param(7, LAB7, "coupon=LEGACY", False, "part of the coupon", id="7-prefix-only"),
        pytest.param(7, LAB7, "coupon=NOPE-9", False, "tracking_id:t7", id="7-hint-names-the-id"),
        pytest.param(7, LAB7, "coupon=", False, "needs the coupon", id="7-empty"),
    ],
)
def test_checker(lab: int, expected: dict[str, Any], answer: str, passed: bool, says: str) -> None:
    """Right answers PASS; each kind of wrong one FAILs with a hint that points the way."""
    verdict = workshop.LABS[lab].check(expected, answer, never_asked)
    assert verdict.passed is passed, verdict
    assert says in str(verdict)
    assert passed or verdict.hint


def counting(docs: list[dict[str, Any]]) -> kit.Count:
    """Elasticsearch's _count over ``docs`` (dotted keys), for the term, prefix, range (gte and
    lte) and bool filter queries the checkers send."""

    def matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
        if "bool" in query:
            return all(matches(doc, part) for part in query["bool"]["filter"])
        ((kind, condition),) = query.items()
        ((key, value),) = condition.items()
        if kind == "term":
            return bool(doc.get(key) == value)
        if kind == "range":  # ISO 8601 UTC strings of one length order as text does
            given = doc.get(key)
            return given is not None and value["gte"] <= given <= value["lte"]
        assert kind == "prefix", query
        return str(doc.get(key, "")).startswith(value)

    return lambda query: sum(matches(doc, query) for doc in docs)


def request_lines(path: str, debug: bool = True, refused: bool = False) -> list[dict[str, Any]]:
    """The lines one request with tracking ID lab4-x writes (as lab 4's checker counts them)."""
    mine = {"tracking_id": "lab4-x"}
    lines = [mine | {"event.dataset": "trackstack.access", "url.path": path, "log.level": "info"}]
    if refused:
        return [*lines, mine | {"event.action": "debug_refused", "log.level": "warning"}]
    if debug:
        lines.append(mine | {"event.action": "debug_enabled", "log.level": "info"})
        lines += [mine | {"log.level": "debug"}] * lab4.DEBUG_LINES[path]
    return lines


LAB4 = {
    "tracking_id": "lab4-x",
    "path": "/api/item",
    "request": "/api/item?sku=lab-123",
    "debug_per_request": 2,
    "refused_id": "r",
    "reason": "bad token",
}
ONCE = request_lines("/api/item")


@pytest.mark.parametrize(
    ("lines", "answer", "passed", "says"),
    [
        pytest.param(ONCE, "debug=2 reason=bad token", True, "never logged", id="right"),
        pytest.param(ONCE, "debug=2 reason=bad_token", True, "", id="label-spelling"),
        pytest.param(ONCE * 2, "debug=4 reason=bad token", True, "", id="sent-twice-counted-all"),
        pytest.param(ONCE * 2, "debug=2 reason=bad token", True, "", id="sent-twice-counted-one"),
        pytest.param(
            request_lines("/api/users") + ONCE,
            "debug=4 reason=bad token",
            True,
            "",
            id="the-pages-example-path-first-then-the-briefings",
        ),
        pytest.param(
            request_lines("/api/users"),
            "debug=2 reason=bad token",
            False,
            "went to /api/item",
            id="the-pages-example-path-only",
        ),
        pytest.param([], "debug=2 reason=bad token", False, "not there yet", id="never-sent"),
        pytest.param(
            request_lines("/api/item", refused=True),
            "debug=0 reason=bad token",
            False,
            "refused",
            id="wrong-token",
        ),
        pytest.param(
            request_lines("/api/item", debug=False),
            "debug=0 reason=bad token",
            False,
            "did not get DEBUG",
            id="no-debug-header",
        ),
        pytest.param(ONCE, "debug=3 reason=bad token", False, "audit", id="audit-line-counted"),
        pytest.param(
            ONCE,
            "debug=1 reason=bad token",
            False,
            "has 2 DEBUG lines with your ID now",
            id="counted-before-searchable",
        ),
        pytest.param(ONCE, "debug=2 reason=missing token", False, "labels.reason", id="reason"),
    ],
)
def test_lab4_checker_judges_what_elasticsearch_has(
    lines: list[dict[str, Any]], answer: str, passed: bool, says: str
) -> None:
    """Lab 4 PASSes once Elasticsearch has the attendee's debug request to the briefing's path,
    whatever else they sent with their ID; each mistake FAILs naming it."""
    verdict = lab4.check(LAB4, answer, counting(lines))
    assert verdict.passed is passed, verdict
    assert says in str(verdict)
    assert passed or verdict.hint


LAB6_WINDOW = {"down_from": "2026-11-21T19:19:32.136Z", "down_to": "2026-11-21T19:20:24.487Z"}


def lab6_lines(access: int, during: int, prefix: str = "lab6-abc-") -> list[dict[str, Any]]:
    """``access`` requests of run ``prefix`` as Elasticsearch has them: access line + app line;
    ``during`` of them (the middle ones) written inside `LAB6_WINDOW`, the rest before or after."""
    before = (access - during) // 2
    lines = []
    for seq in range(access):
        at = (
            "2026-11-21T19:19:20.000Z"
            if seq < before
            else "2026-11-21T19:20:00.000Z"
            if seq < before + during
            else "2026-11-21T19:20:40.000Z"
        )
        mine = {"tracking_id": f"{prefix}{seq:05d}", "@timestamp": at}
        lines += [mine | {"event.dataset": "trackstack.access"}, mine | {"event.dataset": "app"}]
    return lines


@pytest.mark.parametrize(
    ("searchable", "answer", "passed", "says"),
    [
        pytest.param(120, "total=120 during=80", True, "caught up", id="right"),
        pytest.param(
            100, "total=100 during=80", False, "may still be catching up", id="counted-too-early"
        ),
        pytest.param(120, "total=100 during=80", False, "leaves some out", id="query-drops-some"),
        pytest.param(120, "total=240 during=80", False, "every line", id="all-lines"),
        pytest.param(120, "total=130 during=80", False, "access lines only", id="too-many"),
        pytest.param(120, "total=120 during=120", False, "whole run", id="window-not-set"),
        pytest.param(120, "total=120 during=0", False, "UTC", id="window-in-local-time"),
        pytest.param(120, "total=120 during=79", False, "@timestamp", id="window-off"),
    ],
)
def test_lab6_checker(searchable: int, answer: str, passed: bool, says: str) -> None:
    """Lab 6 tells a count made before Filebeat caught up from a query that drops lines."""
    expected = {"prefix": "lab6-abc-", "total": 120, "during": 80}
    verdict = workshop.LABS[6].check(expected, answer, counting(lab6_lines(searchable, 80)))
    assert verdict.passed is passed, verdict
    assert says in str(verdict)
    assert passed or verdict.hint


@pytest.mark.parametrize(
    ("during", "answer", "old_window"),
    [
        pytest.param(80, "total=120 during=200", False, id="more-than-the-total"),
        pytest.param(80, "total=120 during=160", False, id="the-windows-lines-above-the-total"),
        pytest.param(40, "total=120 during=80", False, id="the-windows-lines-below-the-total"),
        pytest.param(80, "total=120 during=200", True, id="more-than-the-total-old-answer-file"),
    ],
)
def test_lab6_during_of_every_line_names_the_missing_filter(
    during: int, answer: str, old_window: bool
) -> None:
    """A `during` that counts every line (more than the run's requests, or the window's lines
    of every kind) FAILs for the missing access-line filter, not for the time range."""
    expected = {"prefix": "lab6-abc-", "total": 120, "during": during}
    if not old_window:  # an answer file from before the window was kept reads the same
        expected |= LAB6_WINDOW
    verdict = workshop.LABS[6].check(expected, answer, counting(lab6_lines(120, during)))
    assert not verdict.passed, verdict
    assert "every line, not one per request" in verdict.message
    assert "event.dataset:trackstack.access" in verdict.hint
    assert "restrict @timestamp" not in verdict.hint


@pytest.mark.parametrize(
    ("old_total", "says"),
    [
        pytest.param(130, "more than the service answered in this run", id="old-run-larger"),
        pytest.param(110, "fewer than the service answered in this run", id="old-run-smaller"),
    ],
)
def test_lab6_an_old_runs_count_names_this_runs_prefix(old_total: int, says: str) -> None:
    """After a re-run, the previous run's right answer FAILs naming this run's prefix, so an
    old prefix is a cause the verdict covers, not only a query that counts too much or little."""
    expected = {"prefix": "lab6-new-", "total": 120, "during": 80} | LAB6_WINDOW
    lines = lab6_lines(old_total, 80, "lab6-old-") + lab6_lines(120, 80, "lab6-new-")
    verdict = workshop.LABS[6].check(expected, f"total={old_total} during=80", counting(lines))
    assert not verdict.passed, verdict
    assert says in verdict.message
    assert "lab6-new-" in verdict.message
    assert "THIS run's prefix lab6-new-" in verdict.hint


# --- every verdict is true: the forms the pages allow, and what each verdict claims ------------

LAB5_ORDER = LAB5 | {"caller_path": "/api/orders/8052"}
LAB7_FEW = LAB7 | {"others": ["WELCOME10", "SPRING5"]}


@pytest.mark.parametrize(
    ("lab", "expected", "answer"),
    [
        pytest.param(1, LAB1, "6 documents", id="1-documents-as-make-trace-says"),
        pytest.param(1, LAB1, "lines 6", id="1-key-space-value"),
        pytest.param(
            3, LAB3_FAILED, "service.name=trackstack-orders status=500", id="3-field-name-as-key"
        ),
        pytest.param(
            3, LAB3, "http.response.status_code=200 service.name=orders", id="3-both-field-names"
        ),
        pytest.param(3, LAB3_FAILED, "service=orders status=HTTP 500", id="3-status-with-http"),
        pytest.param(
            3,
            LAB3_FAILED,
            "service=orders status=500 Internal Server Error",
            id="3-status-with-its-phrase",
        ),
        pytest.param(3, LAB3, "service=Trackstack Orders status=200", id="3-name-with-a-space"),
        pytest.param(3, LAB3, "service=trackstack_orders status=200", id="3-name-underscore"),
        pytest.param(
            5, LAB5, "service.name=orders url.path=/api/item ms=1.2 s", id="5-field-names-seconds"
        ),
        pytest.param(
            5, LAB5, "service=orders path=GET /api/item?sku=lab-1 ms=1200ms", id="5-access-message"
        ),
        pytest.param(
            5,
            LAB5,
            "service=orders path=http://127.0.0.1:8001/api/item?sku=x duration=1210",
            id="5-url-full-and-kibanas-duration-column",
        ),
        pytest.param(
            5, LAB5, "service=orders path=/api/item ms=1203456789 ns", id="5-nanoseconds-unit"
        ),
        pytest.param(6, LAB6, "total=120 requests during=80 access lines", id="6-units"),
        pytest.param(7, LAB7, "coupon LEGACY-4821", id="7-key-space-value"),
        pytest.param(7, LAB7, "coupon=legacy 4821", id="7-space-for-hyphen"),
    ],
)
def test_checker_passes_every_form_the_page_allows(
    lab: int, expected: dict[str, Any], answer: str
) -> None:
    """A right answer written as the page allows (case, spacing, units, the field's own name as
    the key, a short service name, the access line's or url.full's form of a path) PASSes."""
    verdict = workshop.LABS[lab].check(expected, answer, counting(lab6_lines(120, 80)))
    assert verdict.passed, verdict


@pytest.mark.parametrize(
    ("lab", "expected", "answer", "says", "never"),
    [
        # Made up, and PASSed: a unit of another quantity, an approximate count.
        pytest.param(1, LAB1, "lines=6 ms", "not a unit", "", id="1-count-in-ms"),
        pytest.param(1, LAB1, "lines=~6", "not exact", "", id="1-count-about"),
        pytest.param(
            3, LAB3_FAILED, "service=orders status=500 ms", "not 500's", "", id="3-status-in-ms"
        ),
        pytest.param(5, LAB5, "service=orders path=/api/item ms=1200 lines", "unit", "", id="5-ms"),
        pytest.param(6, LAB6, "total=120 ms during=80", "unit", "", id="6-total-in-ms"),
        # A FAIL whose reason was not the real one.
        pytest.param(1, LAB1, "lines=6.5", "not exact", "other requests", id="1-half-a-line"),
        pytest.param(1, LAB1, "lines=7", "more than request t1", "other requests", id="1-more"),
        pytest.param(
            3,
            LAB3_FAILED,
            "service=orders status=500 OK",
            "'ok' is not 500's reason phrase (Internal Server Error)",
            "not a number",
            id="3-another-codes-phrase",
        ),
        pytest.param(
            3,
            LAB3,
            "service=trackstack-service, trackstack-orders status=200",
            "names both services",
            "not a service",
            id="3-both-services",
        ),
        pytest.param(
            5,
            LAB5,
            "service=trackstack-service path=/api/slow ms=500",
            "not a line of this request",
            "waited",
            id="5-caller-with-another-requests-path",
        ),
        pytest.param(
            5,
            LAB5_ORDER,
            "service=trackstack-service path=/api/orders/42 ms=1220",
            "not a line of this request",
            "waited",
            id="5-caller-with-another-orders-path",
        ),
        pytest.param(
            5,
            LAB5,
            "service=orders path=/api/item ms=150000",
            "not how long",
            "event.duration is in nanoseconds",
            id="5-neither-ms-nor-ns",
        ),
        pytest.param(
            5,
            LAB5,
            "service=orders path=/api/item ms=1.2",
            "looks like seconds",
            "",
            id="5-seconds-as-ms",
        ),
        pytest.param(6, LAB6, "total=119.5 during=80", "not exact", "catching", id="6-half"),
        pytest.param(
            7, LAB7, "coupon=KeyError: 'percent'", "ERROR line says", "", id="7-the-error-line"
        ),
        pytest.param(
            7,
            LAB7,
            "coupon=LEGACY-4821 (from the DEBUG line)",
            "more than the coupon code",
            "not the coupon",
            id="7-the-code-and-more",
        ),
        pytest.param(
            7, LAB7_FEW, "coupon=VIP20", "not the coupon", "other checkouts", id="7-unused-coupon"
        ),
    ],
)
def test_checker_fails_for_the_true_reason(
    lab: int, expected: dict[str, Any], answer: str, says: str, never: str
) -> None:
    """A made-up form FAILs; a FAIL names what is true of the answer, not a guess at a mistake
    that the answer does not show."""
    verdict = workshop.LABS[lab].check(expected, answer, counting(lab6_lines(120, 80)))
    assert not verdict.passed, verdict
    assert says in str(verdict)
    assert not never or never not in str(verdict)


@pytest.mark.parametrize(
    ("lab", "key", "spec"),
    [
        pytest.param(1, "lines", kit.LINES, id="1-lines"),
        pytest.param(3, "status", kit.STATUS, id="3-status"),
        pytest.param(4, "debug", kit.LINES, id="4-debug"),
        pytest.param(5, "ms", kit.MILLISECONDS, id="5-ms"),
        pytest.param(6, "total", kit.REQUESTS, id="6-total"),
        pytest.param(6, "during", kit.REQUESTS, id="6-during"),
    ],
)
def test_a_number_it_cannot_read_gets_a_hint_for_that_number(
    lab: int, key: str, spec: kit.Number
) -> None:
    """Every numeric key, given a word: the FAIL names the key and the hint asks for what that
    key is (a status code, a duration), never "a count" for what is not one."""
    module = importlib.import_module(f"workshop.lab{lab}")
    filled = {k: "x" for k in ("service", "path", "reason", "lines", "total", "during")}
    answer = " ".join(f"{k}={'orders' if k == 'service' else '1'}" for k in filled) + f" {key}=n/a"
    verdict = module.check({}, answer, lambda query: 0)
    assert not verdict.passed and f"{key}='n/a'" in verdict.message
    assert f"give {spec.what}" in verdict.hint
    assert ("count" in verdict.hint) is ("count" in spec.what)


def lab1_stories() -> list[Any]:
    """Every situation `make lab N=1` makes: a job of 2 to 4 steps, or an order."""
    made = [("job", steps) for steps in (2, 3, 4)] + [("order", 0)]
    return [pytest.param({"tracking_id": "t1", **lab1.story(*m)}, id=f"{m[0]}{m[1]}") for m in made]


@pytest.mark.parametrize("expected", lab1_stories())
def test_lab1_every_count_gets_a_true_verdict(expected: dict[str, Any]) -> None:
    """Every count from 0 to 12, whole or not, bare or with its unit: PASS only for the right
    one, and what each FAIL says of it is true of the request."""
    want, shares = expected["lines"], expected["by_service"]
    for whole in range(13):
        for n in (whole, whole + 0.5):
            for answer in (f"lines={n:g}", f"{n:g} lines", f"lines: {n:g}"):
                verdict = lab1.check(expected, answer, never_asked)
                said = str(verdict)
                assert verdict.passed is (n == want), (answer, said)
                assert verdict.passed or verdict.hint
                if "not exact" in said:
                    assert n != int(n)
                    continue
                assert n == int(n), (answer, said)
                if "one service's share" in said:
                    assert len(shares) > 1 and n in shares.values() and n < want
                if "up to its access line" in said:
                    assert n == expected["until_response"] < want
                if "too few" in said:
                    assert n < want
                if "more than" in said:
                    assert n > want


@pytest.mark.parametrize("status", [200, 500], ids=["late", "failed"])
def test_lab3_every_service_and_status_gets_a_true_verdict(status: int) -> None:
    """Each service (every spelling the page allows, and made-up ones) with each status
    (bare, with HTTP, with its phrase): PASS only for trackstack-orders and its own status;
    each FAIL's claim is true of the answer."""
    expected = LAB3 | {"status": status}
    spellings = {
        kit.FRONT: ["trackstack-service", "service", "Trackstack Service", "trackstack_service"],
        kit.ORDERS: ["trackstack-orders", "orders", "Trackstack-Orders", "trackstack orders"],
        "": ["payments", "trackstack-payments", "ordres"],
    }
    for code in (200, 500, 502, 504):
        phrase = HTTPStatus(code).phrase
        for written in (f"{code}", f"HTTP {code}", f"{code} {phrase}"):
            for service, names in spellings.items():
                for name in names:
                    for answer in (
                        f"service={name} status={written}",
                        f"service.name={name}, http.response.status_code: {written}",
                    ):
                        verdict = lab3.check(expected, answer, never_asked)
                        said = str(verdict)
                        assert verdict.passed is (service == kit.ORDERS and code == status), said
                        if "where the failure showed" in said:
                            assert service == kit.FRONT
                        if "not a service of this request" in said:
                            assert not service
                        if "answered the customer" in said:
                            assert status == 200 and code == 500 and service == kit.ORDERS
                        if "is not what" in said:
                            assert service == kit.ORDERS and code != status


def test_lab5_every_line_and_duration_gets_a_true_verdict() -> None:
    """Each service and path (the request's two access lines, the dependency_call line, other
    requests' paths; bare, as the access line's message, as url.full) with durations in ms,
    s and ns: PASS only for the callee's line within 15 % (or 100 ms), and each FAIL's claim
    is true: 'waited' only for the caller's own access line, a unit only if it fits."""
    want, caller = LAB5_ORDER["ms"], LAB5_ORDER["caller_path"]
    tolerance = max(100, 0.15 * want)
    paths = {
        "/api/item": ["/api/item", "GET /api/item?sku=lab-7", "http://127.0.0.1:8001/api/item"],
        caller: [caller, f"GET {caller}"],
        "other": ["/api/orders/42", "/api/slow", "/api/names"],
    }
    durations = [(ms, f"{ms:g}") for ms in (300, 1000, 1150, 1200, 1350, 1500)]
    durations += [(1200.0, "1.2 s"), (1200.0, "1200 ms"), (1.2, "1.2"), (1.2e9, "1200000000")]
    for service in (kit.FRONT, kit.ORDERS):
        for line, written_paths in paths.items():
            for path in written_paths:
                for ms, written in durations:
                    answer = f"service={service} path={path} ms={written}"
                    verdict = lab5.check(LAB5_ORDER, answer, never_asked)
                    said = str(verdict)
                    right = service == kit.ORDERS and line == "/api/item"
                    assert verdict.passed is (right and abs(ms - want) <= tolerance), said
                    if "dependency_call line" in verdict.message:
                        assert service == kit.FRONT and line == "/api/item"
                    if "waited" in verdict.message:
                        assert service == kit.FRONT and line == caller
                    if "not a line of this request" in verdict.message:
                        assert line == "other" or (service == kit.ORDERS and line == caller)
                    if "event.duration is in nanoseconds" in verdict.hint:
                        assert right and abs(ms / 1e6 - want) <= tolerance
                    if "looks like seconds" in verdict.hint:
                        assert right and abs(ms * 1000 - want) <= tolerance


@pytest.mark.parametrize("reason", lab4.REASONS)
def test_lab4_every_reason_gets_a_true_verdict(reason: str) -> None:
    """Each labels.reason, in every spelling and as its WARNING's message, alone or with
    another: PASS only when it names the refused request's reason alone; 'not why' only when
    the answer does not name it at all."""
    expected = LAB4 | {"reason": reason}
    for given in lab4.REASONS:
        written = [
            given,
            given.replace(" ", "_"),
            given.title().replace(" ", ""),
            f"debug logging refused ({given})",
        ]
        written += [f"{given} or {other}" for other in lab4.REASONS if other != given]
        for text in written:
            for answer in (f"debug=2 reason={text}", f"debug=2 labels.reason={text}"):
                verdict = lab4.check(expected, answer, counting(ONCE))
                alone = " or " not in text
                assert verdict.passed is (given == reason and alone), (answer, str(verdict))
                if "is not why" in verdict.message:
                    assert reason not in text.lower().replace("_", " ")


@pytest.mark.parametrize(
    ("lines", "answer", "says"),
    [
        pytest.param(
            request_lines("/api/users") + ONCE,
            "debug=1 reason=bad token",
            "has 4 DEBUG lines with your ID now, from 2 requests with DEBUG on",
            id="another-path-first-then-the-briefings",
        ),
        pytest.param(ONCE, "debug=0 reason=bad token", "has 2 DEBUG lines", id="none-counted"),
        pytest.param(ONCE, "debug=1 reason=bad token", "has 2 DEBUG lines", id="one-of-two"),
        pytest.param(ONCE * 2, "debug=1 reason=bad token", "from 2 requests", id="sent-twice"),
    ],
)
def test_lab4_a_low_count_says_only_what_is_certain(
    lines: list[dict[str, Any]], answer: str, says: str
) -> None:
    """A count below Elasticsearch's FAILs with what one debug request to the path writes and
    what Elasticsearch has now, never a guess at timing or at how often it was sent there."""
    verdict = lab4.check(LAB4, answer, counting(lines))
    assert not verdict.passed, verdict
    assert "one debug request to /api/item writes 2 DEBUG lines" in verdict.message
    assert says in verdict.message
    assert "searchable about a second" not in str(verdict)
    assert "you sent it" not in str(verdict)


@pytest.mark.parametrize(
    ("lines", "answer", "passed", "says"),
    [
        pytest.param(
            request_lines("/api/names") + request_lines("/api/item", debug=False),
            "debug=1 reason=bad token",
            False,
            "fewer than one debug request to /api/item",
            id="debug-on-another-path-plain-on-the-briefings",
        ),
        pytest.param(ONCE, "debug=1.5 reason=bad token", False, "not exact", id="half-a-line"),
        pytest.param(ONCE, "debug=2 ms reason=bad token", False, "unit", id="lines-in-ms"),
        pytest.param(ONCE, "debug=2 lines reason=BadToken", True, "", id="unit-and-spelling"),
        pytest.param(
            ONCE,
            "debug=2 reason=debug logging refused (bad token)",
            True,
            "",
            id="the-warnings-message",
        ),
        pytest.param(
            ONCE,
            "debug=2 reason=bad token or missing token",
            False,
            "names more than the reason",
            id="two-reasons",
        ),
    ],
)
def test_lab4_verdicts_are_true_of_what_was_sent(
    lines: list[dict[str, Any]], answer: str, passed: bool, says: str
) -> None:
    """A count Elasticsearch has only because the debug request went elsewhere does not PASS;
    a reason written as its WARNING says it PASSes; a count is whole and has no other unit."""
    verdict = lab4.check(LAB4, answer, counting(lines))
    assert verdict.passed is passed, verdict
    assert says in str(verdict)


def test_lab7_every_coupon_gets_a_true_verdict() -> None:
    """The customer's coupon (any case or separator) PASSes; a coupon other checkouts carried
    is called ordinary only if one did; the ERROR line's words are named as such; the code
    among other words 'says more', and only a code that is not it 'is not the coupon'."""
    expected = LAB7_FEW
    for coupon in ["LEGACY-4821", "legacy 4821", "Legacy_4821", *lab7.ORDINARY_COUPONS[:3]]:
        for answer in (f"coupon={coupon}", coupon, f"coupon {coupon}"):
            verdict = lab7.check(expected, answer, never_asked)
            assert verdict.passed is coupon.upper().startswith("LEGACY"), (answer, verdict)
            if "other checkouts used" in verdict.message:
                assert coupon in expected["others"]
    for words in ("percent", "KeyError", "KeyError: 'percent'", "KeyError('percent')"):
        assert "ERROR line says" in lab7.check(expected, f"coupon={words}", never_asked).message
    for guess in ("LEGACY-1111 percent", "percent off"):
        verdict = lab7.check(expected, f"coupon={guess}", never_asked)
        assert "ERROR line says" not in verdict.message, verdict
    for more in (
        "LEGACY-4821 (from the DEBUG line)",
        "legacy 4821, I think",
        "coupon=legacy_4821 x",
    ):
        verdict = lab7.check(expected, more, never_asked)
        assert "more than the coupon code" in verdict.message, (more, verdict)
    for other in ("LEGACY-48210", "LEGACY-482", "LEGACY-1111", "L.E.G.A.C.Y-4821", "LEG-ACY-4821"):
        verdict = lab7.check(expected, other, never_asked)
        assert "is not the coupon this customer's cart carried" in verdict.message, verdict


# --- the lab pages show what the checker prints -------------------------------------------------

# The situation each page's samples were made in (its briefing's ID, path, times and counts).
PAGE_SITUATIONS: dict[int, tuple[dict[str, Any], kit.Count]] = {
    1: (
        {"tracking_id": "b0b2a310-a70e-40ae-8ef8-986d5c4c744a", **lab1.story("job", 3)},
        never_asked,
    ),
    3: (
        {
            "tracking_id": "ec9f560f-85d5-4c33-8399-635efb35c9fc",
            "service": kit.ORDERS,
            "status": 200,
        },
        never_asked,
    ),
    4: (
        {
            "tracking_id": "lab4-x",
            "path": "/api/users",
            "request": "/api/users",
            "debug_per_request": 2,
            "refused_id": "d51d676e-136d-4583-9db5-a83f53fc8323",
            "reason": "bad token",
        },
        counting(request_lines("/api/users")),
    ),
    5: (
        {
            "tracking_id": "a575e2a8-d195-46a7-843f-2c38e6857fcb",
            "service": kit.ORDERS,
            "path": "/api/item",
            "ms": 1000,
            "caller_path": "/api/orders/8052",
        },
        never_asked,
    ),
    6: ({"prefix": "lab6-abc-", "total": 323, "during": 293}, counting(lab6_lines(323, 293))),
    7: (
        {
            "tracking_id": "0c3c4a43-6f0e-4b43-9d36-2f1b8e2a5b51",
            "coupon": "LEGACY-4821",
            "others": ["SPRING5", "VIP20", "WELCOME10"],
        },
        never_asked,
    ),
}
MAKE_FAILED = "make: *** [mk/lab.mk:16: lab-check] Error 1"


def page_output(lab: int, answer: str) -> str:
    """What `make lab-check N=<lab> ANSWER='<answer>'` prints in the page's situation."""
    expected, count = PAGE_SITUATIONS[lab]
    verdict = workshop.LABS[lab].check(expected, answer, count)
    printed = f"lab {lab}, {workshop.LABS[lab].title}: {verdict}"
    return printed if verdict.passed else f"{printed}\n{MAKE_FAILED}"


def page_samples(lab: int) -> list[tuple[str, str]]:
    """(answer, what it printed: the lines up to the next command or the block's end) for each
    `make lab-check` in lab<N>.md."""
    text = (REPO / "workshop" / f"lab{lab}.md").read_text()
    found = re.findall(
        rf"^\$ make lab-check N={lab} ANSWER='([^']*)'[^\n]*\n((?:(?!\$ |```).*\n)*)", text, re.M
    )
    assert found, f"lab{lab}.md shows no make lab-check"
    return [(answer, shown.rstrip("\n")) for answer, shown in found]


@pytest.mark.parametrize("lab", sorted(PAGE_SITUATIONS))
def test_lab_pages_show_what_the_checker_prints(lab: int) -> None:
    """Every `make lab-check` sample on a lab page (its PASS, FAIL, hint and make's status line)
    is what the checker prints for that answer in the page's own situation."""
    for answer, shown in page_samples(lab):
        assert shown == page_output(lab, answer), answer


def test_workshop_readme_describes_each_labs_variables_and_wait() -> None:
    """The README names every lab's pasted variables line (`make lab`'s last shell line) and
    every waiting time a lab prints (`lab: waiting (up to N s)`), read from the labs' code."""
    readme = (REPO / "workshop" / "README.md").read_text()
    default = kit.Context.wait_for.__defaults__[-1]  # type: ignore[index]
    for lab in sorted(workshop.LABS):
        source = (REPO / "workshop" / f"lab{lab}.py").read_text()
        names = re.findall(r'"([A-Z]+)": ', source)
        assert names, f"lab {lab} sets no shell variables"
        shown = " ".join(f"{name}=…" for name in names)
        assert f"`{shown}`" in readme, (lab, shown)
        for call in re.findall(r"ctx\.wait_for\(([^)]*)\)", source):
            given = re.search(r"timeout_s=(\d+)", call)
            seconds = given[1] if given else f"{default:g}"
            assert f"up to {seconds} s" in readme, (lab, seconds)


# --- the expected answers agree with the service ------------------------------------------------


def error_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["log.level"] == "error"]


def lab2_expected(failure: lab2.Failure) -> dict[str, Any]:
    return {
        "tracking_id": "t2",
        "error_type": failure.error_type,
        "error_module": failure.error_module,
        "error_message": failure.error_message,
        "detail": failure.detail,
    }


@pytest.mark.parametrize("failure", [pytest.param(f, id=f.detail) for f in lab2.Failure.all()])
def test_lab2_every_fragment_gets_a_true_verdict(failure: lab2.Failure) -> None:
    """Every piece of every failure's message, quoted as the answer: what a FAIL says of the
    other failures is true of them, and a PASS names this failure's cause and no other's."""
    message = failure.error_message.lower()
    others = [f for f in lab2.Failure.all() if f.error_message.lower() != message]
    for start in range(len(message)):
        for end in range(start + 1, len(message) + 1):
            fragment = message[start:end]
            if not fragment.strip() or ":" in fragment:
                continue
            verdict = lab2.check(
                lab2_expected(failure), f"{failure.error_type}: {fragment}", never_asked
            )
            kind = [f for f in others if f.error_type == failure.error_type]
            if "every failure of this kind says that" in verdict.hint:
                assert kind and all(fragment.strip() in f.error_message.lower() for f in kind)
            if "true of other failures too" in verdict.message:
                assert any(fragment.strip() in f.error_message.lower() for f in others)
            if verdict.passed:
                assert not any(fragment.strip() in f.error_message.lower() for f in others)
                assert len(fragment.strip()) >= 5 and fragment.strip() in failure.detail.lower()


@pytest.mark.parametrize("failure", [pytest.param(f, id=f.detail) for f in lab2.Failure.all()])
def test_lab2_type_passes_bare_or_with_its_own_module_only(failure: lab2.Failure) -> None:
    expected = lab2_expected(failure)
    answer = f": {failure.detail}"
    assert lab2.check(expected, failure.error_type + answer, never_asked).passed
    assert lab2.check(
        expected, f"{failure.error_module}.{failure.error_type}{answer}", never_asked
    ).passed
    for module in ("service.faults", "builtins.errors", "myapp", "orders.fault_header"):
        if module != failure.error_module:
            verdict = lab2.check(expected, f"{module}.{failure.error_type}{answer}", never_asked)
            assert not verdict.passed and f"not defined in {module}" in verdict.message


@pytest.mark.parametrize("failure", [pytest.param(f, id=f.detail) for f in lab2.Failure.all()])
def test_lab2_failures_log_what_the_answer_expects(client, log_lines, failure) -> None:
    """Each lab 2 failure's ERROR line has exactly the error.type and error.message expected."""
    response = client.get(failure.path, headers=failure.headers)
    errors = error_lines(log_lines())
    assert response.status_code == 500 and len(errors) == 1
    assert errors[0]["error.type"] == failure.error_type
    assert errors[0]["error.message"] == failure.error_message
    assert failure.detail in failure.error_message


@pytest.mark.parametrize("path", sorted(lab4.DEBUG_LINES))
def test_lab4_debug_line_counts_match_the_service(client, log_lines, path: str) -> None:
    """One debug request to each lab 4 path writes DEBUG_LINES[path] DEBUG lines."""
    response = client.get(path, headers={"X-Debug-Log": "1", "X-Debug-Token": DEBUG_TOKEN})
    assert response.headers["X-Debug-Log"] == "on"
    debug = [line for line in log_lines() if line["log.level"] == "debug"]
    assert len(debug) == lab4.DEBUG_LINES[path]


def test_lab7_coupon_is_only_in_the_failed_requests_debug_lines(tmp_path, settings) -> None:
    """With DEBUG_ON_FAILURE (as both stacks run): a legacy coupon's checkout is a 500 whose
    ERROR line says only KeyError 'percent'; its released DEBUG lines name the coupon, no
    other line does; an ordinary checkout writes no DEBUG line."""
    failing = dataclasses.replace(settings, debug_on_failure=True)
    with captured_lines(tmp_path / "out.ndjson", failing.tracking()) as read:
        client = create_app(failing).test_client()
        cart = {"items": [{"sku": "sku-1", "qty": 2}]}
        ok = client.post("/api/checkout", json=cart | {"coupon": "WELCOME10"})
        failed = client.post("/api/checkout", json=cart | {"coupon": "LEGACY-4821"})
        for response in (ok, failed):
            response.close()
        lines = read()
    assert (ok.status_code, failed.status_code) == (200, 500)
    (error,) = error_lines(lines)
    assert error["error.type"] == "KeyError" and "LEGACY" not in json.dumps(error)
    naming = [line for line in lines if "LEGACY-4821" in json.dumps(line)]
    assert naming and all(line["log.level"] == "debug" for line in naming)
    assert {line["tracking_id"] for line in naming} == {failed.headers["X-Tracking-ID"]}
    ok_id = ok.headers["X-Tracking-ID"]
    assert [line["log.level"] for line in lines if line.get("tracking_id") == ok_id] == ["info"]


def test_lab7_lines_are_written_in_the_order_the_page_and_hint_say(tmp_path, settings) -> None:
    """A failed checkout writes the ERROR line, then debug_released, then its DEBUG lines (as
    lab7.md and the KeyError hint say); each DEBUG line is stamped no later than the ERROR
    line, so make trace (by @timestamp, then write order) may print the ERROR line first."""
    failing = dataclasses.replace(settings, debug_on_failure=True)
    with captured_lines(tmp_path / "out.ndjson", failing.tracking()) as read:
        client = create_app(failing).test_client()
        cart = {"items": [{"sku": "sku-1", "qty": 2}], "coupon": "LEGACY-4821"}
        client.post("/api/checkout", json=cart).close()
        lines = read()
    kinds = [
        "error" if line["log.level"] == "error" else line.get("event.action") or line["log.level"]
        for line in lines
    ]
    assert kinds[kinds.index("error") :] == ["error", "debug_released", "debug", "debug"], kinds
    (error,) = error_lines(lines)
    debug = [line for line in lines if line["log.level"] == "debug"]
    assert all(line["@timestamp"] <= error["@timestamp"] for line in debug)
    hint = lab7.check(LAB7, "KeyError: 'percent'", never_asked).hint
    assert "written after its ERROR line" in hint and "before its access line" in hint
    page = (REPO / "workshop" / "lab7.md").read_text()
    said = "the ERROR line, the `debug_released` line, the DEBUG lines, the access line"
    assert said in " ".join(page.split())


def test_lab1_job_lines_are_steps_plus_three(client, log_lines) -> None:
    """A job writes steps + 2 app lines (queued, steps, finished); gunicorn adds the access line."""
    response = client.post("/api/jobs", headers={"X-Tracking-ID": "job-lab1"})
    steps = response.get_json()["data"]["steps"]
    poll_until(lambda: "finished" in str(log_lines()), 3, "the job's last line", every_s=0.05)
    app = [line for line in log_lines() if line.get("tracking_id") == "job-lab1"]
    assert len(app) == steps + 2


# --- files and the command line -----------------------------------------------------------------


def stub_lab(expected: dict[str, Any]) -> Lab:
    return Lab(
        "a stub",
        "x=<n>",
        lambda ctx: Scenario("brief", {"tracking_id": "t"}, expected),
        lambda exp, answer, count: Verdict(answer == exp["x"], "checked", "try again"),
    )


def test_create_writes_the_facts_and_the_hidden_answer(labs_dir, monkeypatch) -> None:
    """lab<N>.json holds the briefing's facts only; lab<N>.answer.json the expected answer."""
    monkeypatch.setitem(workshop.LABS, 1, stub_lab({"x": "42"}))
    workshop.create(1, None)  # type: ignore[arg-type]
    facts = json.loads((labs_dir / "lab1.json").read_text())
    answer = json.loads((labs_dir / "lab1.answer.json").read_text())
    assert facts["tracking_id"] == "t" and "x" not in facts
    assert answer["x"] == "42" and answer["lab"] == 1


@pytest.mark.parametrize(
    ("answer", "code", "says"),
    [
        pytest.param("42", 0, "PASS: checked", id="pass"),
        pytest.param("41", 1, "hint: try again", id="fail"),
    ],
)
def test_main_check_exit_codes(labs_dir, monkeypatch, capsys, answer, code, says) -> None:
    """check exits 0 on PASS and 1 on FAIL, printing the verdict."""
    monkeypatch.setitem(workshop.LABS, 1, stub_lab({"x": "42"}))
    workshop.create(1, None)  # type: ignore[arg-type]
    assert __main__.main(["check", "1", answer]) == code
    assert says in capsys.readouterr().out


def test_check_before_create_says_what_to_run(labs_dir, capsys) -> None:
    """No scenario yet: exit 2 and the make command that creates it."""
    assert __main__.main(["check", "3", "service=x status=1"]) == 2
    assert "make lab N=3" in capsys.readouterr().err


def make(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", *args],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_make_lab_check_passes_quotes_through(labs_dir) -> None:
    """ANSWER with quotes, colons and spaces reaches the checker intact through make."""
    quoted = 'it\'s "broken"'
    expected = LAB2 | {"error_message": f"simulated failure: {quoted}", "detail": quoted}
    (labs_dir / "lab2.answer.json").write_text(json.dumps(expected))
    result = make(
        "lab-check", "N=2", f"ANSWER=RuntimeError: {quoted}", env={"LABS_DIR": str(labs_dir)}
    )
    assert result.returncode == 0 and "PASS" in result.stdout, result.stdout + result.stderr


def test_crowd_returns_the_customers_answer(monkeypatch) -> None:
    """The customer's request is sent among the others, and its own answer comes back."""
    sent: list[str] = []

    def send(self, method: str, path: str, headers=None, body=None, timeout_s: float = 30):
        sent.append(path)
        return path

    monkeypatch.setattr(kit.Context, "send", send)
    ctx = kit.Context("http://x", None, random.Random(7))  # type: ignore[arg-type]
    answer = ctx.crowd(lambda: ctx.send("GET", "/customer"), 8, [lambda: "decoy"])
    assert answer == "/customer"
    assert len(sent) == 9 and "/customer" in sent


@pytest.mark.parametrize(
    ("lab", "answer", "says"),
    [
        pytest.param(1, "lines=five", "not a number: lines='five'", id="lab1-word-for-count"),
        pytest.param(1, "", "the answer needs lines", id="lab1-empty"),
        pytest.param(2, "RuntimeError", "needs a part of error.message", id="lab2-no-fragment"),
        pytest.param(3, "service=orders", "the answer needs status", id="lab3-no-status"),
        pytest.param(
            3, "service=orders status=five hundred", "status='five hundred'", id="lab3-word"
        ),
        pytest.param(4, "debug=1", "the answer needs reason", id="lab4-only-debug"),
        pytest.param(4, "debug=one reason=missing token", "debug='one'", id="lab4-word-for-count"),
        pytest.param(5, "service=orders path=/api/item", "the answer needs ms", id="lab5-no-ms"),
        pytest.param(6, "total=10 during=many", "not a number: during='many'", id="lab6-word"),
    ],
)
def test_malformed_answer_names_exactly_what_is_wrong(lab: int, answer: str, says: str) -> None:
    """An answer lacking a key FAILs naming only the missing key; a non-number names the value."""
    module = importlib.import_module(f"workshop.lab{lab}")
    verdict = module.check({}, answer, lambda query: 0)
    assert not verdict.passed
    assert says in verdict.message
