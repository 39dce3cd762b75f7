"""The timeline page (loadgen/timeline.py) as headless Chromium renders it: lanes, bars,
nesting, the error marker, bar widths, no script errors; odd sets of lines still render
with a note. Each test keeps a screenshot in tests/artifacts/ (tests/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadgen import timeline
from tests.browser import Tab, chromium, screenshot
from tests.timeline_samples import (
    FRONT,
    HOSTILE,
    ORDERS,
    ORDERS_SPAN,
    TRACE_ID,
    TRACKING_ID,
    access,
    call,
    doc,
    error,
    orders_42,
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Tab]:
    with chromium() as launched:
        yield Tab.of(launched)


def show(browser: Tab, tmp_path: Path, docs: list[dict[str, Any]], **kw: Any) -> Tab:
    page = timeline.render(kw.pop("tracking_id", TRACKING_ID), docs, **kw)
    path = tmp_path / "timeline.html"
    path.write_text(page, encoding="utf-8")
    return browser.open(path)


def bars(opened: Tab) -> list[dict[str, Any]]:
    """Every bar: its data attributes and its box on screen, in document order."""
    result: list[dict[str, Any]] = opened.page.eval_on_selector_all(
        "rect.bar[data-line]",
        """els => els.map(el => {
            const box = el.getBoundingClientRect();
            return {line: el.dataset.line, kind: el.dataset.kind, parent: el.dataset.parent,
                    ms: parseFloat(el.dataset.durationMs), classes: el.getAttribute('class'),
                    service: el.closest('g.lane').dataset.service,
                    x: box.x, y: box.y, width: box.width, height: box.height};
        })""",
    )
    return result


def test_readme_request_draws_lanes_nested_bars_and_the_error(browser: Tab, tmp_path: Path) -> None:
    """The README's /api/orders/42: two lanes, three nested bars, widths ~ durations, a red
    error marker whose hover names error.type and message, a click that opens its line."""
    opened = show(browser, tmp_path, orders_42())
    page = opened.page
    screenshot(page, "timeline-orders-42")
    assert page.inner_text("#tracking-id") == TRACKING_ID
    assert page.inner_text("#trace-id") == TRACE_ID
    lanes = page.eval_on_selector_all("g.lane", "els => els.map(el => el.dataset.service)")
    assert lanes == [FRONT, ORDERS]

    request, dependency, callee = (
        {b["kind"]: b for b in bars(opened) if b["service"] == FRONT}["request"],
        {b["kind"]: b for b in bars(opened) if b["service"] == FRONT}["call"],
        next(b for b in bars(opened) if b["service"] == ORDERS),
    )
    assert len(bars(opened)) == 3
    # Nesting: the call inside the request, a row lower; the callee inside the call.
    assert dependency["parent"] == request["line"] and callee["parent"] == dependency["line"]
    assert dependency["y"] > request["y"] and callee["y"] > dependency["y"]
    for outer, inner in ((request, dependency), (dependency, callee)):
        assert outer["x"] - 0.5 <= inner["x"], (outer, inner)
        assert inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5, (outer, inner)
    # Widths in proportion to event.duration (31.3 : 25.1 : 15.0 ms), to a pixel.
    px_per_ms = request["width"] / request["ms"]
    assert px_per_ms > 10
    for bar in (dependency, callee):
        assert bar["width"] == pytest.approx(bar["ms"] * px_per_ms, abs=1.0), bar
    assert "error" in request["classes"] and "error" not in callee["classes"]

    marker = page.locator("#timeline circle.marker.error")
    assert marker.count() == 1
    hover = marker.locator("title").text_content() or ""
    assert "RuntimeError: simulated failure: password=[REDACTED]" in hover
    assert page.locator("#timeline circle.marker.debug").count() == 1
    marker.click()
    row = page.locator("tr.selected")
    assert row.count() == 1 and "RuntimeError" in row.inner_text()
    assert row.locator("details").get_attribute("open") is not None
    assert "Traceback (most recent call last)" in row.inner_text()
    assert "dependency call" in page.inner_text("#legend")
    assert page.locator(".note.warn").count() == 0, page.inner_text("#notes")
    assert opened.problems == []


def test_hostile_text_is_shown_as_text_and_never_runs(browser: Tab, tmp_path: Path) -> None:
    """Quotes, </script>, an <img onerror> and unicode in any field are shown literally."""
    docs = orders_42()
    docs[0]["message"] = HOSTILE
    docs[0]["service"]["name"] = HOSTILE
    docs[4] = error(421, message=HOSTILE)
    opened = show(browser, tmp_path, docs, tracking_id=HOSTILE)
    page = opened.page
    screenshot(page, "timeline-hostile")
    assert page.evaluate("window.pwned") is None
    assert page.locator("img").count() == 0
    assert page.inner_text("#tracking-id") == HOSTILE
    assert HOSTILE in page.inner_text("#lines")
    assert opened.problems == []


CASES = [
    pytest.param(
        [
            doc(0, FRONT, "s", "looking up order 42"),
            access(5, FRONT, "s", "/api/x", 200, 5),
            access(9, ORDERS, ORDERS_SPAN, "/api/item", 200, 1)
            | {"event": {"dataset": "trackstack.access"}},
        ],
        "without a usable event.duration",
        1,
        id="missing-duration",
    ),
    pytest.param(
        [
            access(5, FRONT, "s", "/api/orders/1", 200, 5),
            access(4, ORDERS, "o", "/api/item", 200, 1),
        ],
        "unknown parent span",
        2,
        id="unknown-parent-span",
    ),
    pytest.param(
        [doc(0, FRONT, "s", "hello"), access(3, FRONT, "s", "/api/names", 200, 3.2)],
        "one service only",
        1,
        id="one-service",
    ),
    pytest.param(
        [doc(0, FRONT, "s", "looking up order 42"), call(30, 25)],
        "still arriving?",
        1,
        id="access-line-not-yet",
    ),
    pytest.param(
        [doc(0, FRONT, "s", "a"), {"message": "no time", "@timestamp": "yesterday"}],
        "without a usable @timestamp",
        0,
        id="bad-timestamp",
    ),
    pytest.param([], "no line of this request was found", 0, id="no-lines"),
    pytest.param(
        [{"message": "only a message"}], "without a usable @timestamp", 0, id="bare-document"
    ),
    pytest.param(
        [
            access(5, FRONT, "s", "/api/x", 200, 5)
            | {"event": {"dataset": "trackstack.access", "duration": "12ms"}}
        ],
        "without a usable event.duration",
        0,
        id="duration-of-the-wrong-type",
    ),
]


@pytest.mark.parametrize(("docs", "note", "bar_count"), CASES)
def test_odd_sets_of_lines_render_with_a_note(
    browser: Tab,
    tmp_path: Path,
    docs: list[dict[str, Any]],
    note: str,
    bar_count: int,
    request: pytest.FixtureRequest,
) -> None:
    """A malformed or partial set still renders: the chart, the list, a note, no script error."""
    opened = show(browser, tmp_path, docs)
    assert note in opened.page.inner_text("#notes")
    assert opened.page.locator("svg#timeline").count() == 1
    assert opened.page.locator("#lines tr.line").count() == len(docs)
    assert len(bars(opened)) == bar_count
    assert opened.problems == []


def test_dead_lettered_line_is_drawn_and_marked(browser: Tab, tmp_path: Path) -> None:
    """A line Elasticsearch refused appears on the page, dashed and named DEAD-LETTERED."""
    import json

    rejected = {
        "@timestamp": "2026-11-21T18:44:03.400Z",
        "message": json.dumps(doc(400, FRONT, "1f0c9e2a7b3d4c51", "odd field value")),
        "error.type": 400,
        "error.message": json.dumps({"type": "document_parsing_exception", "reason": "bad"}),
        "_id": "x",
    }
    opened = show(browser, tmp_path, orders_42(), dead=[rejected])
    screenshot(opened.page, "timeline-dead-lettered")
    dead = opened.page.locator("#timeline circle.marker.dead")
    assert dead.count() == 1
    assert "DEAD-LETTERED" in dead.locator("title").text_content() or ""
    assert "document_parsing_exception: bad" in opened.page.inner_text("tr.dead")
    assert "dead-lettered" in opened.page.inner_text("#notes")
    assert opened.problems == []
