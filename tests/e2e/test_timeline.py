"""The README's request, for real: GET /api/orders/42 on the native stack, `make trace`, and
the page it writes as headless Chromium renders it (tests/browser.py)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from setup.project import REPO, poll_until
from tests.browser import Tab, chromium, screenshot
from tests.helpers import SERVICE, Stack


def test_orders_42_timeline_in_a_browser(stack: Stack, tmp_path: Path) -> None:
    """`make trace` prints the page's URL; Chromium shows the service's request with its
    step timer inside, the dependency call inside the step and the orders request under the
    call, widths in proportion to event.duration, the IDs on top, no script error."""
    response = requests.get(f"{SERVICE}/api/orders/42", timeout=10)
    assert response.status_code == 200
    tracking_id = response.headers["X-Tracking-ID"]
    poll_until(
        lambda: (
            sum(d["event"]["dataset"] == "trackstack.access" for d in stack.by_id(tracking_id)) == 2
        ),
        30,
        "both access documents",
    )
    result = subprocess.run(
        ["make", "trace", f"ID={tracking_id}"],
        cwd=REPO,
        env=os.environ | {"TIMELINES_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    url = re.search(r"^timeline: (file://\S+)", result.stdout, re.M)
    assert url, result.stdout
    path = Path(unquote(urlsplit(url[1]).path))
    assert path.parent == tmp_path and path.stat().st_size < 64 * 1024
    trace_id = stack.by_id(tracking_id)[0]["trace"]["id"]

    with chromium() as browser:
        tab = Tab.of(browser).open(path)
        page = tab.page
        screenshot(page, "timeline-e2e-orders-42")
        assert page.inner_text("#tracking-id") == tracking_id
        assert page.inner_text("#trace-id") == trace_id
        lanes = page.eval_on_selector_all("g.lane", "els => els.map(el => el.dataset.service)")
        assert lanes == ["trackstack-service", "trackstack-orders"]
        bars: list[dict[str, Any]] = page.eval_on_selector_all(
            "#timeline rect.bar",
            """els => els.map(el => ({line: el.dataset.line, kind: el.dataset.kind,
                parent: el.dataset.parent, ms: parseFloat(el.dataset.durationMs),
                classes: el.getAttribute('class'), width: el.getBoundingClientRect().width}))""",
        )
        request, step, dependency, callee = (
            next(b for b in bars if b["kind"] == "request" and not b["parent"]),
            next(b for b in bars if b["kind"] == "step"),
            next(b for b in bars if b["kind"] == "call"),
            next(b for b in bars if b["kind"] == "request" and b["parent"]),
        )
        # The service's step timer (trackstack.step "downstream.item") wraps the call.
        assert len(bars) == 4, bars
        assert step["parent"] == request["line"] and dependency["parent"] == step["line"]
        assert callee["parent"] == dependency["line"]
        assert request["ms"] >= step["ms"] >= dependency["ms"] >= callee["ms"] > 0
        px_per_ms = request["width"] / request["ms"]
        for bar in (step, dependency, callee):
            assert (
                bar["width"] == px_per_ms * bar["ms"]
                or abs(bar["width"] - px_per_ms * bar["ms"]) <= 1.0
            ), bar
        assert not any("error" in b["classes"].split() for b in bars)
        assert "looking up order 42" in page.inner_text("#lines")
        # The only note a complete request may carry: its lines are seconds old.
        for note in page.locator(".note.warn").all_inner_texts():
            assert note.startswith("still arriving? the newest line is only"), note
        assert tab.problems == []
