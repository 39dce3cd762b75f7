"""Tests for loadgen/chart.py: the run's picture is drawn, with or without timings."""

from __future__ import annotations

from pathlib import Path

from loadgen import chart
from tests.helpers import record


def test_per_second_percentiles() -> None:
    """Requests are grouped by the second they were sent in, p50 and p95 per group."""
    records = [
        record("names", f"id-{n}", latency_ms=n, sent_ms=1000.0 + 100 * n) for n in range(1, 21)
    ]
    seconds, p50, p95 = chart.per_second(records, 1000.0)
    assert seconds == [0.5, 1.5, 2.5]
    assert (p50[0], p95[0]) == (5, 9)  # sent in second 0: latencies 1..9


def test_render_writes_a_png(tmp_path: Path) -> None:
    """summary.png is a PNG, also when time to searchable was not measured."""
    records = [record("names", f"id-{n}", latency_ms=n, sent_ms=1000.0 + 50 * n) for n in range(40)]
    failed = record("names", "bad", status=503)
    path = chart.render(tmp_path, [*records, failed], {f"id-{n}": n / 40 for n in range(40)})
    assert path == tmp_path / chart.PICTURE
    assert path.read_bytes().startswith(b"\x89PNG")
    assert chart.render(tmp_path, records, {}).read_bytes().startswith(b"\x89PNG")
