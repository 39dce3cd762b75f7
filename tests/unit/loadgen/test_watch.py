"""Tests for loadgen/watch.py: timing when tracking IDs become searchable."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from loadgen import verify, watch
from tests.helpers import record


def test_first_finding_search_marks_an_id_with_the_miss_before_it() -> None:
    """seen_ms is the start of the search that found it; missed_ms the one before."""
    searchable: set[str] = set()
    asked: list[tuple[list[str], float]] = []

    def search(ids: Sequence[str], since_ms: float) -> set[str]:
        asked.append((list(ids), since_ms))
        return searchable & set(ids)

    times = iter([100.0, 350.0, 600.0])
    out = io.StringIO()
    watcher = watch.Watcher(search, out, clock=lambda: next(times))
    watcher.add([record("names", "a"), record("names", "b", sent_ms=900.0), record("x", None)])
    assert watcher.poll() == 0
    searchable.add("a")
    assert watcher.poll() == 1
    searchable.add("b")
    watcher.poll()
    assert asked[0] == (["a", "b"], 900.0 - watch.SLACK_MS)
    assert asked[1][0] == ["a", "b"] and asked[2][0] == ["b"]
    a, b = watcher.sightings["a"], watcher.sightings["b"]
    assert (a.seen_ms, a.missed_ms, b.seen_ms, b.missed_ms) == (350.0, 100.0, 600.0, 350.0)
    assert [json.loads(line)["tracking_id"] for line in out.getvalue().splitlines()] == ["a", "b"]
    assert not watcher.pending and watcher.poll() == 0


def test_since_query_limits_ids_and_time() -> None:
    """The query asks for these IDs, from a time on (so old daily indices are skipped)."""
    query = watch.since_query(["x", "y"], 1234.9)
    assert query["bool"]["filter"][0] == {"terms": {"tracking_id": ["x", "y"]}}
    assert query["bool"]["filter"][1]["range"]["@timestamp"]["gte"] == 1234


def test_batches() -> None:
    """IDs go out in batches of at most the given size, in order."""
    assert list(watch.batches(list(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]


class Answer(dict[str, Any]):
    """What the client returns: subscriptable, and the same mapping as ``.body``."""

    @property
    def body(self) -> dict[str, Any]:
        return self


class RecordingEs:
    """Records each search's aggregations; answers with no buckets."""

    def __init__(self) -> None:
        self.aggs: list[dict[str, Any]] = []

    def search(self, **kwargs: Any) -> Any:
        self.aggs.append(kwargs["aggs"])
        return Answer(aggregations={"ids": {"buckets": []}})


def test_per_id_counts_matched_documents_without_global_ordinals() -> None:
    assert watch.per_id(7) == {
        "terms": {"field": "tracking_id", "size": 7, "execution_hint": "map"}
    }
    assert watch.per_id(3, "event.id")["terms"]["field"] == "event.id"


_ITEMS = list(verify.expected_by_id([record("names", "id-1")]).values())


@pytest.mark.parametrize(
    ("name", "call"),
    [
        pytest.param(
            "watch.present", lambda es: watch.present(es, ["id-1"], 0.0), id="watch.present"
        ),
        pytest.param(
            "verify.search_batch",
            lambda es: verify.search_batch(es, _ITEMS, 0.0),
            id="verify.search_batch",
        ),
        pytest.param(
            "verify.search_mentions",
            lambda es: verify.search_mentions(es, ["id-1"], 0.0, "x"),
            id="verify.search_mentions",
        ),
    ],
)
def test_every_tool_search_by_id_uses_per_id(name: str, call: Callable[[Any], object]) -> None:
    """Each search that buckets by tracking ID skips global ordinals (per_id's docstring)."""
    es = RecordingEs()
    call(es)
    assert es.aggs, name
    for aggs in es.aggs:
        assert aggs["ids"]["terms"]["execution_hint"] == "map", name
