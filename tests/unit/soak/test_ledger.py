"""Tests for soak/ledger.py: which lines a run wrote (rotated files too), and how
lines and documents per tracking ID become lost, duplicated or complete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadgen.verify import expected_by_id
from soak.ledger import (
    TOO_LARGE,
    Balance,
    Tally,
    balances,
    filebeat_events,
    read_lines,
    snapshot,
)
from tests.helpers import record


def line(tracking_id: str | None, event_id: str, **extra: Any) -> str:
    doc: dict[str, Any] = {"message": "m", "event.dataset": "trackstack.app", "event.id": event_id}
    if tracking_id:
        doc["tracking_id"] = tracking_id
    return json.dumps(doc | extra) + "\n"


def write(path: Path, *lines: str) -> None:
    with path.open("a") as out:
        out.write("".join(lines))


def test_only_lines_after_the_snapshot_count_and_renamed_files_keep_their_place(
    tmp_path: Path,
) -> None:
    """Older lines are skipped; a file renamed after the snapshot is read from where it was."""
    live = tmp_path / "svc.ndjson"
    write(live, line("old", "e0"))
    since = snapshot(tmp_path)
    write(live, line("a", "e1"))
    live.rename(tmp_path / "svc.ndjson.20260101T000000")  # rotation: same inode, new name
    write(live, line("a", "e2"), line("b", "e3"))
    lines = read_lines({"a", "b", "old"}, since, tmp_path)
    assert lines.event_ids == {"a": {"e1", "e2"}, "b": {"e3"}}
    assert (lines.total, lines.files, lines.files_rotated) == (3, 2, 1)
    assert lines.where["e1"] == "svc.ndjson.20260101T000000:+1"


def test_a_line_still_being_written_waits(tmp_path: Path) -> None:
    """A last line without its newline is not counted yet."""
    path = tmp_path / "svc.ndjson"
    write(path, line("a", "e1"), line("a", "e2").rstrip("\n"))
    assert read_lines({"a"}, {}, tmp_path).count("a") == 1


def test_what_is_wrong_with_a_line_is_counted(tmp_path: Path) -> None:
    """Not JSON, no event.id, a repeated event.id, a cut line, the oversized stand-in."""
    write(
        tmp_path / "svc.ndjson",
        "Traceback (most recent call last):\n",
        '["not", "an object"]\n',
        json.dumps({"message": "no id"}) + "\n",
        line("a", "e1"),
        line("a", "e1"),
        line("a", "e2", **{"url.query": "detail=x\u2026[truncated]\u2026y"}),
        line(None, "e3", message=TOO_LARGE),
    )
    lines = read_lines({"a"}, {}, tmp_path)
    assert len(lines.not_json) == 2 and lines.not_json[0].startswith("svc.ndjson:+1: ")
    assert (lines.without_event_id, lines.repeated, lines.too_large) == (1, 1, 1)
    assert lines.cut == {"a": 1} and lines.count("a") == 2


@pytest.mark.parametrize(
    ("balance", "lost", "duplicated", "missing", "complete"),
    [
        pytest.param(Balance(3, 3), 0, 0, False, True, id="balanced"),
        pytest.param(Balance(3, 2), 1, 0, True, False, id="one-line-lost"),
        pytest.param(Balance(3, 4), 0, 1, False, False, id="one-duplicate"),
        pytest.param(Balance(0, 0), 0, 0, True, False, id="no-line-written"),
        pytest.param(Balance(2, 2, ("handler line",)), 0, 0, True, False, id="lacks-a-check"),
        pytest.param(
            Balance(3, 2, ("handler line",), dead=1), 0, 0, False, False, id="one-dead-lettered"
        ),
        pytest.param(Balance(2, 0, (), dead=2), 0, 0, False, False, id="all-dead-lettered"),
        pytest.param(Balance(3, 1, (), dead=1), 1, 0, True, False, id="dead-and-lost"),
    ],
)
def test_balance(
    balance: Balance, lost: int, duplicated: int, missing: bool, complete: bool
) -> None:
    """Lines vs documents: fewer documents = lost, more = duplicated; no line at all or a
    lacking expected document is lost too. A dead-lettered line is neither lost nor complete."""
    assert (balance.lost, balance.duplicated) == (lost, duplicated)
    assert (balance.missing, balance.complete) == (missing, complete)


def test_balances_use_the_verifiers_checks(tmp_path: Path) -> None:
    """Documents come from the "*" bucket; a check with no document is named."""
    write(tmp_path / "svc.ndjson", line("a", "e1"), line("a", "e2"))
    expected = expected_by_id([record("names", "a")])
    lines = read_lines(expected, {}, tmp_path)
    got = balances(expected, lines, {"a": {"*": 2, "access /api/names": 1}})
    assert got == {"a": Balance(2, 2, ("handler line",))}


def test_balances_count_dead_letters_per_id(tmp_path: Path) -> None:
    """A dead-lettered line explains the check its ID lacks: not lost, not complete."""
    write(tmp_path / "svc.ndjson", line("a", "e1"), line("a", "e2"))
    expected = expected_by_id([record("names", "a")])
    lines = read_lines(expected, {}, tmp_path)
    (got,) = balances(expected, lines, {"a": {"*": 1, "access /api/names": 1}}, {"a": 1}).values()
    assert got == Balance(2, 1, ("handler line",), dead=1)
    assert (got.lost, got.missing, got.complete) == (0, False, False)
    assert got.settled  # the soak stops waiting for it
    assert Tally.of({"a": got}, ["a"]).dead_lines == 1


def test_tally_sums_each_id_once() -> None:
    """An ID in two windows counts once; IDs unknown to the ledger are ignored."""
    balance = {"a": Balance(3, 3), "b": Balance(2, 1), "c": Balance(1, 2)}
    assert Tally.of(balance, ["a", "b", "b", "c", "zzz"]) == Tally(
        ids=3, lines=6, docs=6, lost_ids=1, lost_lines=1, duplicated=1
    )


def test_filebeat_events_sum_the_metrics_lines_after_the_offset(tmp_path: Path) -> None:
    """Only "Non-zero metrics" lines after the offset count; other lines are ignored."""

    def metrics(**events: int) -> str:
        body = {"libbeat": {"output": {"events": events}}}
        return json.dumps(
            {"message": "Non-zero metrics in the last 30s", "monitoring": {"metrics": body}}
        )

    out = tmp_path / "filebeat.out"
    write(out, metrics(duplicates=5), "\n")
    offset = out.stat().st_size
    write(
        out,
        metrics(duplicates=6, failed=2) + "\n",
        '{"message": "Connection to backoff(elasticsearch(x)) established"}\n',
        "Non-zero metrics, but not JSON\n",
        metrics(duplicates=4, dropped=1) + "\n",
    )
    assert filebeat_events(offset, out) == {"duplicates": 10, "dropped": 1, "failed": 2}
    assert filebeat_events(0, tmp_path / "missing.out") == {}
