"""Tests for loadgen/report.py: percentiles, per-entry rows, achieved rate, time to searchable."""

from __future__ import annotations

import pytest

from loadgen import report
from loadgen.manifest import Sighting
from tests.helpers import record

ONE_TO_HUNDRED = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        pytest.param(ONE_TO_HUNDRED, 50, 50, id="p50-of-1..100"),
        pytest.param(ONE_TO_HUNDRED, 95, 95, id="p95-of-1..100"),
        pytest.param(ONE_TO_HUNDRED, 99, 99, id="p99-of-1..100"),
        pytest.param(ONE_TO_HUNDRED, 100, 100, id="p100-is-max"),
        pytest.param(ONE_TO_HUNDRED, 0, 1, id="p0-is-min"),
        pytest.param([7.0], 99, 7, id="single-value"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 50, 2, id="even-count-takes-lower"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 51, 3, id="just-above-half"),
        pytest.param([5.0, 1.0, 1000.0], 95, 1000, id="few-values-p95-is-max"),
    ],
)
def test_nearest_rank_percentile(values: list[float], q: float, expected: float) -> None:
    """The smallest value with at least q % of the values at or below it."""
    assert report.percentile(values, q) == expected


@pytest.mark.parametrize(
    ("values", "q"),
    [pytest.param([], 50, id="empty"), pytest.param([1.0], 101, id="over-100")],
)
def test_percentile_rejects_nonsense(values: list[float], q: float) -> None:
    """No values, or a percentile outside 0-100, is an error rather than a made-up number."""
    with pytest.raises(ValueError):
        report.percentile(values, q)


def test_spread() -> None:
    """Spread.of gives count, p50, p95, p99 and max; None for nothing."""
    assert report.Spread.of([]) is None
    assert report.Spread.of(ONE_TO_HUNDRED) == report.Spread(100, 50, 95, 99, 100)


def test_rows_per_entry_count_statuses_failures_and_latency() -> None:
    """Rows follow the mix order; statuses are tallied; an unexpected status is a failure."""
    records = [
        record("names", latency_ms=10),
        record("names", latency_ms=30),
        record("names", status=503, latency_ms=20),
        record("error", status=500, latency_ms=5, expected_status=500),
        record("health", None, latency_ms=1, status=0, error="no response: timeout"),
    ]
    rows = report.by_entry(records, order=["health", "names", "error"])
    assert [row.entry for row in rows] == ["health", "names", "error"]
    names = rows[1]
    assert (names.count, names.statuses, names.failures) == (3, {200: 2, 503: 1}, 1)
    assert (names.latency_ms.p50, names.latency_ms.max) == (20, 30)
    assert (rows[2].failures, rows[0].failures) == (0, 1)
    table = report.entry_table(rows)
    assert table[0].split()[:2] == ["entry", "count"]
    assert table[2].split() == ["names", "3", "1", "20", "30", "30", "30", "200:2", "503:1"]
    count_ends = set()
    for line in table:  # the count column is right-aligned: every cell ends in one column
        first, second = line.split()[:2]
        count_ends.add(line.index(second, len(first)) + len(second))
    assert len(count_ends) == 1


def test_debug_not_confirmed_is_a_failure_even_with_200() -> None:
    """A request with an error note (e.g. debug refused) is not ok whatever its status."""
    assert not report.is_ok(record(error="debug not confirmed"))
    assert report.is_ok(record())


@pytest.mark.parametrize(
    ("count", "duration", "span", "expected"),
    [
        pytest.param(400, 20, 19.95, 20.0, id="headless-uses-run-time"),
        pytest.param(380, 20, 19.95, 19.0, id="headless-shortfall"),
        pytest.param(101, None, 5.0, 20.0, id="ui-uses-gaps-between-sends"),
        pytest.param(1, None, 0.0, 0.0, id="ui-single-request"),
    ],
)
def test_achieved_rate(count: int, duration: float | None, span: float, expected: float) -> None:
    """Requests over the asked run time; without one, gaps between first and last send."""
    assert report.achieved_rate(count, duration, span) == pytest.approx(expected)


def test_time_to_searchable_counts_only_real_measurements() -> None:
    """Load sightings count; a verify sighting counts only if an earlier look missed."""
    records = [
        record("names", "watched", latency_ms=0),
        record("names", "late", latency_ms=0),
        record("names", "old", latency_ms=0),
        record("names", "never", latency_ms=0),
        record("names", None, status=0),
    ]
    sightings = {
        "watched": Sighting("watched", 1_750.0, None, "load"),
        "late": Sighting("late", 31_000.0, 30_000.0, "verify"),
        "old": Sighting("old", 9_000_000.0, None, "verify"),
    }
    assert report.time_to_searchable_s(records, sightings) == {"watched": 0.75, "late": 30.0}


def test_spread_line_formats_seconds_and_ms() -> None:
    """Seconds with two decimals; ms without decimals from 10 ms on."""
    line = report.spread_line("tts", report.Spread(3, 0.5, 1.25, 1.5, 2.0))
    assert line == "tts: p50 0.50 s  p95 1.25 s  p99 1.50 s  max 2.00 s  (n=3)"
    assert "p50 12 ms" in report.spread_line("lat", report.Spread(1, 12.4, 13, 14, 15), "ms")
    assert report.spread_line("tts", None) == "tts: no measurements"
