"""Unit tests for loadgen/deadletter.py: reading libbeat's dead-letter documents (the e2e
test tests/e2e/test_deadletter.py runs the phrase query against the real Elasticsearch)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loadgen import deadletter


def dead_letter(event: Any, status: int = 400, error: Any = None) -> dict[str, Any]:
    """A document as libbeat's setDeadLetter writes it: the event as a JSON string."""
    error = error or {"type": "document_parsing_exception", "reason": "[1:2] bad"}
    return {
        "@timestamp": "2026-11-29T12:00:00.000Z",
        "message": event if isinstance(event, str) else json.dumps(event),
        "error.type": status,
        "error.message": json.dumps(error),
    }


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        pytest.param(dead_letter({"tracking_id": "ab-12"}), "ab-12", id="top-level"),
        pytest.param(dead_letter({"tracking_id": 12}), None, id="not-a-string"),
        pytest.param(dead_letter({"message": "tracking_id ab-12"}), None, id="only-mentioned"),
        pytest.param(dead_letter("not json"), None, id="message-not-json"),
        pytest.param(dead_letter("[1, 2]"), None, id="message-not-an-object"),
        pytest.param({"@timestamp": "x"}, None, id="no-message"),
    ],
)
def test_tracking_id_is_read_from_the_original_event(
    doc: dict[str, Any], expected: str | None
) -> None:
    """Only the event's own tracking_id counts, never a mention elsewhere in the line."""
    assert deadletter.tracking_id(doc) == expected


def test_query_is_one_phrase_per_id_within_the_time_range() -> None:
    """Each ID becomes a match_phrase "tracking_id <id>" on message; since_ms filters."""
    query = deadletter.query(["a-1", "b"], since_ms=1000.7)["bool"]
    assert query["should"] == [
        {"match_phrase": {"message": "tracking_id a-1"}},
        {"match_phrase": {"message": "tracking_id b"}},
    ]
    assert query["minimum_should_match"] == 1
    assert query["filter"] == [{"range": {"@timestamp": {"gte": 1000, "format": "epoch_millis"}}}]


class FakeSearch:
    """Answers es.search with fixed hits, like an index the phrase matched too broadly."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs
        self.calls: list[dict[str, Any]] = []

    def search(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        hits = [{"_id": f"e{n}", "_source": doc, "sort": [n]} for n, doc in enumerate(self.docs)]
        return {"hits": {"hits": hits}}


def test_find_keeps_only_exact_tracking_ids() -> None:
    """Phrase hits for a longer ID or another letter case are dropped; the index may be
    missing (ignore_unavailable)."""
    es = FakeSearch(
        [
            dead_letter({"tracking_id": "ab-12"}),
            dead_letter({"tracking_id": "ab-12-x"}),
            dead_letter({"tracking_id": "AB-12"}),
            dead_letter({"tracking_id": "ab-12"}),
        ]
    )
    found = deadletter.find(es, ["ab-12"])  # type: ignore[arg-type]
    assert [doc["_id"] for doc in found["ab-12"]] == ["e0", "e3"]
    assert set(found) == {"ab-12"}
    assert es.calls[0]["ignore_unavailable"] is True
    assert es.calls[0]["index"] == "trackstack-deadletter"


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        pytest.param(
            dead_letter({}, 400, {"type": "document_parsing_exception", "reason": "bad key"}),
            "400 document_parsing_exception: bad key",
            id="elasticsearch-error-object",
        ),
        pytest.param(
            {"error.type": 400, "error.message": "plain text"}, "400 plain text", id="plain"
        ),
        pytest.param({"error": {"type": 403, "message": "{}"}}, "403 {}", id="nested-keys"),
    ],
)
def test_reason_names_status_and_elasticsearchs_reason(doc: dict[str, Any], expected: str) -> None:
    """The reason line is the status and Elasticsearch's error type and reason."""
    assert deadletter.reason(doc) == expected


def test_trace_lists_dead_letters_with_reason_and_line() -> None:
    """make trace prints each dead-lettered line: when, _id, reason, the line's message."""
    from loadgen.trace import render_dead_letters

    doc = dead_letter({"tracking_id": "ab-12", "message": "charged card"}) | {"_id": "e7"}
    text = render_dead_letters("ab-12", [doc])
    assert text.splitlines()[0].startswith("DEAD-LETTERED: 1 line of tracking_id ab-12")
    assert 'message:"tracking_id ab-12"' in text.splitlines()[0]
    assert "_id e7: 400 document_parsing_exception: [1:2] bad" in text
    assert text.splitlines()[-1].strip() == "charged card"
