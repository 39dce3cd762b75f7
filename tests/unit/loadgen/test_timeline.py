"""The timeline page's content as a pure function of the lines (loadgen/timeline.py); the
browser tests (tests/server/test_timeline_browser.py) check how Chromium renders it."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest

from loadgen import timeline
from tests.timeline_samples import (
    FRONT,
    FRONT_SPAN,
    HOSTILE,
    ORDERS,
    access,
    call,
    doc,
    orders_42,
)


def by_message(picture: timeline.Picture) -> dict[str, timeline.Bar]:
    return {bar.line.message: bar for bar in picture.bars}


def test_nesting_of_the_readme_request() -> None:
    """Call inside the service's request; the orders request inside the call; markers on
    the innermost bar of their own span."""
    picture = timeline.build(orders_42())
    bars = by_message(picture)
    request, dependency = bars["GET /api/orders/42 500"], bars[next(m for m in bars if "call" in m)]
    callee = bars["GET /api/item 200"]
    assert dependency.parent is request and callee.parent is dependency and request.parent is None
    assert (request.row, dependency.row, callee.row) == (0, 1, 0)
    assert picture.lanes == [FRONT, ORDERS]
    holders = {ln.message: holder for ln, holder in picture.markers}
    assert holders["looking up order 42"] is request
    assert holders["item sku-42 found"] is callee
    assert [ln.number for ln in picture.lines] == list(range(1, 7))
    assert picture.notes == []


def test_timed_steps_nest_by_time_within_their_span() -> None:
    """Any line with event.duration is a bar: a step inside the request, a call inside the step."""
    docs = [
        doc(
            10,
            FRONT,
            FRONT_SPAN,
            "step load_order",
            event__action="load_order",
            event__duration=8_000_000,
        ),
        call(9, 5),
        access(20, FRONT, FRONT_SPAN, "/api/orders/1", 200, 20),
    ]
    bars = by_message(timeline.build(docs))
    step, request = bars["step load_order"], bars["GET /api/orders/1 200"]
    dependency = next(b for b in bars.values() if b.kind == "call")
    assert step.kind == "step" and step.parent is request and dependency.parent is step
    assert dependency.row == 2


@pytest.mark.parametrize(
    ("docs", "now_ms", "total", "note"),
    [
        pytest.param(orders_42(), None, 9, "only the first 6 of 9 documents", id="truncated"),
        pytest.param(
            orders_42(),
            timeline._epoch_ms(orders_42()[-1]) + 1200,  # type: ignore[operator]
            None,
            "the newest line is only 1.2 s old",
            id="last-line-recent",
        ),
        pytest.param(
            [d for d in orders_42() if d["service"]["name"] == FRONT],
            None,
            None,
            "no line of the called service matches it",
            id="callee-lines-not-yet",
        ),
        pytest.param(
            [d for d in orders_42() if "dependency call" not in d["message"]],
            None,
            None,
            "unknown parent span",
            id="caller-line-missing",
        ),
    ],
)
def test_partial_pictures_say_so(
    docs: list[dict[str, Any]], now_ms: float | None, total: int | None, note: str
) -> None:
    """A picture that may be partial carries a note saying why."""
    notes = [text for _, text in timeline.build(docs, now_ms=now_ms, total=total).notes]
    assert any(note in text for text in notes), notes


def test_every_text_is_escaped_and_only_our_script_runs() -> None:
    """Hostile text in any field appears escaped; the one script is the page's own, allowed
    by its hash in the Content-Security-Policy, which also forbids any network access."""
    docs = orders_42()
    docs[0]["message"] = docs[0]["service"]["name"] = HOSTILE
    docs[0]["error"] = {"type": HOSTILE, "message": HOSTILE}
    page = timeline.render(HOSTILE, docs, dead=[{"message": HOSTILE, "_id": HOSTILE}])
    assert page.count("<script") == 1 and page.count("</script>") == 1
    assert "<img" not in page
    assert "&lt;/script&gt;&lt;script&gt;window.pwned=1" in page
    digest = base64.b64encode(hashlib.sha256(timeline.SCRIPT.encode()).digest()).decode()
    policy = re.search(r'Content-Security-Policy" content="([^"]*)"', page)
    assert policy and "default-src 'none'" in policy[1] and f"'sha256-{digest}'" in policy[1]
    assert "http://" not in page.split("<body>")[0] and "https://" not in page


@pytest.mark.parametrize(
    ("tracking_id", "name"),
    [
        pytest.param("24db6a8b-c58c", "24db6a8b-c58c.html", id="uuid-like"),
        pytest.param("lg-20261121T185741Z:0006", "lg-20261121T185741Z_0006.html", id="colon"),
        pytest.param("../../etc/passwd", "_.._etc_passwd.html", id="path-traversal"),
        pytest.param("..", "_.html", id="dots-only"),
        pytest.param("x" * 300, "x" * 128 + ".html", id="long"),
    ],
)
def test_file_name_stays_in_its_folder(tracking_id: str, name: str) -> None:
    """A timeline's file name is the ID with anything unsafe as _, never a path elsewhere."""
    assert timeline.file_name(tracking_id) == name


def test_access_line_without_span_joins_its_request() -> None:
    """gunicorn's access line has no span.id: it still closes the request its app lines are in."""
    docs = orders_42()
    del docs[-1]["span"], docs[-1]["trace"]
    picture = timeline.build(docs)
    request = by_message(picture)["GET /api/orders/42 500"]
    assert request.line.span == FRONT_SPAN and picture.notes == []
    assert {holder for ln, holder in picture.markers if ln.service == FRONT} == {request}


def test_callee_that_answered_after_the_caller_gave_up() -> None:
    """Lab 3's slow variant: the failed call is red, the callee's 200 hangs under it and
    ends after it, and nothing is reported as still arriving."""
    docs = [
        doc(0, FRONT, FRONT_SPAN, "looking up order 42"),
        doc(101, ORDERS, "o", "injected 6000 ms latency", level="warning"),
        call(5101, 5000, None),
        access(5103, FRONT, FRONT_SPAN, "/api/orders/42", 500, 5103),
        access(6102, ORDERS, "o", "/api/item", 200, 6001),
    ]
    picture = timeline.build(docs)
    bars = {bar.kind + bar.line.service: bar for bar in picture.bars}
    dependency, callee = bars["call" + FRONT], bars["request" + ORDERS]
    assert callee.parent is dependency and callee.end > dependency.end + 900
    assert dependency.line.error and not callee.line.error
    assert [kind for kind, _ in picture.notes] == []
