"""Tests for loadgen/verify.py and loadgen/expectations.py: what each request must leave in
Elasticsearch, how a batch answer is read, polling until complete or the deadline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from loadgen import expectations, kibana, mix, verify
from loadgen.manifest import Record
from loadgen.verify import Expected, Found
from tests.helpers import record


def keys(r: Record) -> set[str]:
    return {check.key for check in expectations.checks_for(r)}


def test_every_endpoint_has_expectations() -> None:
    """The expectation table covers exactly the endpoints the mix can send."""
    assert set(expectations.EXPECTED) == set(mix.ENDPOINTS)


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        pytest.param("health", {"access /api/health"}, id="health-access-only"),
        pytest.param(
            "orders",
            {"access /api/orders/", "handler line", "dependency_call", "access /api/item"},
            id="orders-both-services",
        ),
        pytest.param(
            "error", {"access /api/error", "handler line", "stack trace"}, id="error-stack"
        ),
        pytest.param(
            "jobs", {"access /api/jobs", "handler line", "job_finished"}, id="jobs-finish"
        ),
        pytest.param("users", {"access /api/users", "db_query"}, id="users-db"),
    ],
)
def test_checks_per_endpoint(endpoint: str, expected: set[str]) -> None:
    """Each endpoint expects its access line plus what its handler logs."""
    assert keys(record(endpoint)) == expected


def test_replaced_id_and_debug_add_their_lines() -> None:
    """A replaced invalid ID expects the refusal WARNING; confirmed debug its audit + DEBUG."""
    replaced = record("names", "new", sent_id="not a valid id")
    assert "tracking_id_refused" in keys(replaced)
    assert {"debug_enabled", "debug line"} <= keys(record("users", debug=True))
    assert not {"tracking_id_refused", "debug_enabled"} & keys(record("names"))


def test_checks_are_filter_queries() -> None:
    """Every check is one bool or term query, so it fits one bucket of a filters aggregation."""
    for check in expectations.union(
        expectations.checks_for(record(e, debug=True)) for e in mix.ENDPOINTS
    ).values():
        assert set(check.query) <= {"bool", "term"}, check.key


def test_leak_query_covers_free_text_and_the_query_string() -> None:
    """A secret is looked for as a phrase in message/error.* and anywhere in url.query."""
    query = expectations.mentions("s3cret-Value")["bool"]
    phrase, wildcard = query["should"]
    assert phrase["multi_match"]["type"] == "phrase"
    assert set(phrase["multi_match"]["fields"]) == {"message", "error.message", "error.stack_trace"}
    assert wildcard["wildcard"]["url.query"] == {
        "value": "*s3cret-Value*",
        "case_insensitive": True,
    }
    assert query["minimum_should_match"] == 1


def answer(counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    """An Elasticsearch response of the shape search_batch asks for."""
    return {
        "aggregations": {
            "ids": {
                "buckets": [
                    {
                        "key": tid,
                        "doc_count": per["*"],
                        "checks": {
                            "buckets": {k: {"doc_count": v} for k, v in per.items() if k != "*"}
                        },
                    }
                    for tid, per in counts.items()
                ]
            }
        }
    }


def test_parse_buckets_and_lacking() -> None:
    """Counts per ID and check come out of the aggregation; lacking names what is missing."""
    found = verify.parse_buckets(
        answer({"id-1": {"*": 3, "access /api/jobs": 1, "handler line": 1, "job_finished": 0}})
    )
    item = verify.expected_by_id([record("jobs", "id-1")])["id-1"]
    assert [check.key for check in verify.lacking(item, found)] == ["job_finished"]
    assert verify.lacking(verify.expected_by_id([record("jobs", "id-2")])["id-2"], found)


class FakeSearch:
    """Documents that become searchable after a given number of rounds."""

    def __init__(self, complete_after: dict[str, int]) -> None:
        self.complete_after = complete_after
        self.rounds: dict[str, int] = {}
        self.calls: list[list[str]] = []

    def __call__(self, items: Sequence[Expected], since_ms: float) -> Found:
        self.calls.append([item.tracking_id for item in items])
        found: Found = {}
        for item in items:
            seen = self.rounds[item.tracking_id] = self.rounds.get(item.tracking_id, 0) + 1
            if seen > self.complete_after[item.tracking_id]:
                found[item.tracking_id] = {"*": 2} | dict.fromkeys(item.checks, 1)
        return found


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_polls_only_incomplete_ids_until_all_arrive() -> None:
    """Late IDs are searched again (only they), with one search per round, until complete."""
    expected = verify.expected_by_id([record("names", "early"), record("names", "late")])
    search = FakeSearch({"early": 0, "late": 2})
    clock = Clock()
    outcome = verify.check_all(expected, search, 60, clock=clock, sleep=clock.sleep)
    assert not outcome.missing
    assert search.calls == [["early", "late"], ["late"], ["late"]]
    assert outcome.searches == 3
    # "late" was missed before it was seen, so its sighting times its arrival.
    assert outcome.sightings["early"].missed_ms is None
    assert outcome.sightings["late"].missed_ms is not None


@pytest.mark.parametrize(
    ("kibana_answers", "link"),
    [
        pytest.param(True, "/app/discover#/", id="compose-kibana-link"),
        pytest.param(False, "Kibana: none answers at", id="native-no-kibana"),
    ],
)
def test_gives_up_at_the_deadline_and_names_the_missing(
    monkeypatch: pytest.MonkeyPatch, kibana_answers: bool, link: str
) -> None:
    """An ID that never arrives is missing after the timeout, with its Kibana link only when a
    Kibana answers."""
    monkeypatch.setattr(kibana, "answers", lambda url: kibana_answers)
    expected = verify.expected_by_id([record("names", "here"), record("orders", "never-sent")])
    clock = Clock()
    outcome = verify.check_all(
        expected, FakeSearch({"here": 0, "never-sent": 10**9}), 5, clock=clock, sleep=clock.sleep
    )
    assert [item.tracking_id for item in outcome.missing] == ["never-sent"]
    assert 5 <= clock.now <= 6
    lines = verify.describe_missing(outcome.missing[0], outcome.found)
    assert lines[0].startswith("MISSING never-sent ") and "no documents at all" in lines[0]
    assert link in lines[1]
    assert ("never-sent" in lines[1]) is kibana_answers


def test_partly_found_ids_say_what_they_lack() -> None:
    """An ID with some documents is named with the kinds it still lacks."""
    item = verify.expected_by_id([record("orders", "half")])["half"]
    found: Found = {"half": {"*": 2, "access /api/orders/": 1, "handler line": 1}}
    line = verify.describe_missing(item, found)[0]
    assert "2 documents, lacks: dependency_call; access /api/item" in line


def test_requests_without_response_are_not_expected() -> None:
    """No response means no tracking ID to look for; such records are left out."""
    no_answer = record("names", None, status=0)
    assert verify.expected_by_id([no_answer]) == {}


def test_dead_lettered_ids_are_reported_as_such_not_missing(tmp_path: Any) -> None:
    """An ID whose line is in the dead-letter index is DEAD-LETTERED with Elasticsearch's
    reason and the trace command; the verdict counts it apart from the missing."""
    records = [record("names", "fine"), record("names", "refused"), record("names", "gone")]
    expected = verify.expected_by_id(records)
    found: Found = {"fine": {"*": 2, "access /api/names": 1, "handler line": 1}}
    found["refused"] = {"*": 1, "access /api/names": 1}
    outcome = verify.Outcome(expected, found, {}, 1, 0.5)
    dead = {
        "refused": [
            {
                "_id": "e1",
                "error.type": 400,
                "error.message": '{"type":"document_parsing_exception","reason":"empty key"}',
            }
        ]
    }
    lines = verify._report(tmp_path, records, outcome, [], {}, dead, 1)
    text = "\n".join(lines)
    assert "dead-letter index trackstack-deadletter: 1 lines since the run began" in text
    (dead_line,) = [line for line in lines if line.startswith("DEAD-LETTERED")]
    assert dead_line.startswith("DEAD-LETTERED refused ")
    assert "400 document_parsing_exception: empty key" in dead_line
    assert "make trace ID=refused" in text
    assert [line for line in lines if line.startswith("MISSING")] == [
        next(line for line in lines if line.startswith("MISSING gone "))
    ]
    assert not any(line.startswith("MISSING refused") for line in lines)
    assert lines[-1].startswith("verified 1/3 tracking IDs")
    assert "1 MISSING" in lines[-1] and "1 DEAD-LETTERED" in lines[-1]
