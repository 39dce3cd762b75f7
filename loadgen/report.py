"""The numbers a run reports: percentiles, per-entry summaries, achieved rate, time to
searchable. Pure functions over manifest records, so unit tests pin the maths down.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from loadgen.manifest import Record, Sighting


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``q`` % of values <= it.

    Always one of the values (no interpolation), so "p99 = 812 ms" means a request took that
    long. Raises ValueError for no values or q outside 0-100.
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Spread:
    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread | None:
        if not values:
            return None
        return cls(
            len(values),
            percentile(values, 50),
            percentile(values, 95),
            percentile(values, 99),
            max(values),
        )


def is_ok(record: Record) -> bool:
    """The request got the answer its endpoint is meant to give (500 for /api/error)."""
    return record.expected and record.error is None


@dataclass(frozen=True)
class EntryRow:
    entry: str
    count: int
    statuses: dict[int, int]  # status -> count; 0 = no response
    failures: int
    latency_ms: Spread


def by_entry(records: Sequence[Record], order: Sequence[str] = ()) -> list[EntryRow]:
    """One row per mix entry, in ``order`` (the mix's order) then by name."""
    groups: dict[str, list[Record]] = {}
    for record in records:
        groups.setdefault(record.entry, []).append(record)
    position = {name: i for i, name in enumerate(order)}
    rows = []
    for name in sorted(groups, key=lambda n: (position.get(n, len(position)), n)):
        group = groups[name]
        spread = Spread.of([r.latency_ms for r in group])
        assert spread is not None  # a group is never empty
        rows.append(
            EntryRow(
                entry=name,
                count=len(group),
                statuses=dict(sorted(Counter(r.status for r in group).items())),
                failures=sum(not is_ok(r) for r in group),
                latency_ms=spread,
            )
        )
    return rows


def achieved_rate(count: int, duration_s: float | None, span_s: float) -> float:
    """Requests per second: ``count`` over the run time asked for (``duration_s``), or when
    there is none (the web UI) over the span from first to last send, which for evenly
    spaced requests is (count - 1) gaps long."""
    if duration_s is not None:
        if duration_s <= 0:
            raise ValueError("duration must be positive")
        return count / duration_s
    return (count - 1) / span_s if count > 1 and span_s > 0 else 0.0


def time_to_searchable_s(
    records: Iterable[Record], sightings: Mapping[str, Sighting]
) -> dict[str, float]:
    """Per tracking ID: seconds from the response being received to the start of the first
    search that found any document with that ID.

    Counted: IDs the load watched (it starts looking as soon as the response is in) and IDs
    a later search found after an earlier one missed them. Not counted: an ID the very first
    look of a verify found (say, hours later), which says nothing about arrival time.
    Each time is an upper bound, high by at most one poll interval.
    """
    result: dict[str, float] = {}
    for record in records:
        if record.tracking_id is None:
            continue
        sighting = sightings.get(record.tracking_id)
        if sighting is None or (sighting.by != "load" and sighting.missed_ms is None):
            continue
        result[record.tracking_id] = (sighting.seen_ms - record.received_ms) / 1000
    return result


def format_statuses(statuses: Mapping[int, int]) -> str:
    return " ".join(f"{status or 'none'}:{count}" for status, count in statuses.items())


def format_seconds(seconds: float) -> str:
    return f"{seconds:.2f} s"


def format_ms(ms: float) -> str:
    return f"{ms:.0f}" if ms >= 10 else f"{ms:.1f}"


def entry_table(rows: Sequence[EntryRow]) -> list[str]:
    """The end-of-run table: per entry, count, status mix, latency percentiles (ms)."""
    header = ("entry", "count", "fail", "p50 ms", "p95 ms", "p99 ms", "max ms", "statuses")
    body = [
        (
            row.entry,
            str(row.count),
            str(row.failures),
            format_ms(row.latency_ms.p50),
            format_ms(row.latency_ms.p95),
            format_ms(row.latency_ms.p99),
            format_ms(row.latency_ms.max),
            format_statuses(row.statuses),
        )
        for row in rows
    ]
    return table([header, *body], right=range(1, 7))


def table(rows: Sequence[Sequence[str]], right: Iterable[int] = ()) -> list[str]:
    """Plain aligned columns (the last column is never padded)."""
    right_cols = set(right)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell if i == len(row) - 1 else cell.rjust(w) if i in right_cols else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def spread_line(label: str, spread: Spread | None, unit: str = "s") -> str:
    if spread is None:
        return f"{label}: no measurements"
    fmt = format_seconds if unit == "s" else (lambda v: f"{format_ms(v)} ms")
    return (
        f"{label}: p50 {fmt(spread.p50)}  p95 {fmt(spread.p95)}  "
        f"p99 {fmt(spread.p99)}  max {fmt(spread.max)}  (n={spread.count})"
    )
