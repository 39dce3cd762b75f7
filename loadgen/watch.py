"""Watching tracking IDs become searchable, to measure time to searchable honestly.

Filebeat adds no ingest time to documents (and the reader may not install a pipeline that
would), and ``@timestamp`` is when the service wrote the line, not when Elasticsearch could
find it. So we ask Elasticsearch, the way a person in Kibana would: every ``interval_s`` one
search for all IDs still pending; the first search that finds any document of an ID marks
it searchable. The time is that search's start, so it is high by at most one interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from loadgen.manifest import Record, Sighting
from setup.project import INDEX_PATTERN

if TYPE_CHECKING:  # the client is the caller's; importing it here would slow every CLI start
    from elasticsearch import Elasticsearch

T = TypeVar("T")
BATCH = 5000  # IDs per terms query (Elasticsearch allows 65 536)
POLL_S = 0.25  # one search per poll; at 0.1 s it cost Elasticsearch 0.1-0.2 more cores
SLACK_MS = 5 * 60_000  # look this far before the first send: client and server clocks


def now_ms() -> float:
    return time.time() * 1000


def watch_poll(text: str) -> float:
    """``--watch-poll``: seconds between the watch's searches, 0.05 to 5; ValueError otherwise
    (argparse reports it as a usage error)."""
    seconds = float(text)
    if not 0.05 <= seconds <= 5:
        raise ValueError(text)
    return seconds


def batches(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def since_query(ids: Sequence[str], since_ms: float) -> dict[str, Any]:
    """Documents of these IDs written after ``since_ms`` (lets Elasticsearch skip old days)."""
    return {
        "bool": {
            "filter": [
                {"terms": {"tracking_id": list(ids)}},
                {"range": {"@timestamp": {"gte": int(since_ms), "format": "epoch_millis"}}},
            ]
        }
    }


def per_id(size: int, field: str = "tracking_id") -> dict[str, Any]:
    """A terms aggregation with one bucket per value of a per-request ID field
    (``tracking_id``, ``event.id``, ``trace.id``): ``{"terms": {...}}``, ``size`` buckets at most.

    ``execution_hint: map`` makes Elasticsearch count the values of the documents the query
    matched instead of building the field's global ordinals (Elasticsearch reference, terms
    aggregation, "Execution hint"). Global ordinals span every distinct value of the shard and
    are rebuilt on the first aggregation after each refresh: for an ID field that is one entry
    per request ever logged, so each search of the watch or verify cost more as the day's index
    grew. Measured on a 1.3-million-document index with a refresh between searches: 110-170 ms
    per search with global ordinals, 16-33 ms with ``map`` (docs/PERFORMANCE.md).
    """
    return {"terms": {"field": field, "size": size, "execution_hint": "map"}}


def present(
    es: Elasticsearch, ids: Sequence[str], since_ms: float, index: str = INDEX_PATTERN
) -> set[str]:
    """Which of ``ids`` have at least one searchable document (in ``index``)."""
    found: set[str] = set()
    for batch in batches(ids, BATCH):
        result = es.search(
            index=index,
            size=0,
            query=since_query(batch, since_ms),
            aggs={"ids": per_id(len(batch))},
        )
        found.update(bucket["key"] for bucket in result["aggregations"]["ids"]["buckets"])
    return found


class Watcher:
    """Pending IDs -> sightings. ``search`` answers which IDs are searchable now."""

    def __init__(
        self,
        search: Callable[[Sequence[str], float], set[str]],
        out: TextIO | None = None,
        by: str = "load",
        clock: Callable[[], float] = now_ms,
    ) -> None:
        self.search = search
        self.out = out
        self.by = by
        self.clock = clock
        self.pending: dict[str, float | None] = {}  # ID -> start of the last search that missed
        self.sightings: dict[str, Sighting] = {}
        self.since_ms: float | None = None

    def add(self, records: Iterable[Record]) -> None:
        for record in records:
            if record.tracking_id and record.tracking_id not in self.sightings:
                self.pending.setdefault(record.tracking_id, None)
                first = record.sent_ms - SLACK_MS
                self.since_ms = first if self.since_ms is None else min(self.since_ms, first)

    def poll(self) -> int:
        """One search for everything pending; returns how many IDs it found."""
        if not self.pending or self.since_ms is None:
            return 0
        started = self.clock()
        found = self.search(list(self.pending), self.since_ms)
        for tracking_id in list(self.pending):
            if tracking_id in found:
                sighting = Sighting(tracking_id, started, self.pending.pop(tracking_id), self.by)
                self.sightings[tracking_id] = sighting
                if self.out is not None:
                    self.out.write(sighting.to_json() + "\n")
            else:
                self.pending[tracking_id] = started
        if self.out is not None:
            self.out.flush()
        return len(found)
