"""Tests for soak/ (faults, ledger, report): the fault schedule, which IDs each fault's row
accounts for, recovery times from first sightings, the burst's oversized detail,
the report's rows."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from soak import faults, ledger, report
from soak.faults import Fault, Recovery
from soak.ledger import Balance, Ledger, Lines


def test_rotations_are_spread_over_the_load() -> None:
    """N rotations split the load into N + 1 equal parts, none at its start or end."""
    assert faults.rotation_times(1_000.0, 10, 4) == [3_000.0, 5_000.0, 7_000.0, 9_000.0]


def test_ids_in_a_fault_are_its_own_and_those_sent_during_it() -> None:
    """A burst counts its own IDs; a rotation also the seconds around the rename."""
    sent = {"before": 500.0, "during": 1_500.0, "just-after": 3_500.0, "later": 9_000.0}
    burst = Fault("burst", 1_000.0, 2_000.0, ids=("b1", "b2"))
    assert faults.ids_in(burst, sent) == ["b1", "b2", "during"]
    rotation = Fault("rotation", 2_000.0, 2_100.0)
    assert faults.ids_in(rotation, sent) == ["during", "just-after"]


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        pytest.param(
            {"during-1": 12_000.0, "during-2": 15_000.0, "after": 11_000.0},
            Recovery(resumed_s=1.0, drained_s=5.0, backlog=2),
            id="resumed-then-drained",
        ),
        pytest.param(
            {"during-1": 12_000.0, "after": 13_000.0},
            Recovery(resumed_s=3.0, drained_s=None, backlog=2),
            id="one-never-found",
        ),
        pytest.param(
            {"during-1": 9_000.0, "during-2": 9_500.0},
            Recovery(resumed_s=None, drained_s=0.0, backlog=2),
            id="found-before-the-end",
        ),
    ],
)
def test_recovery(seen: dict[str, float], expected: Recovery) -> None:
    """Resumed: first ID sent after the fault, found; drained: the last one sent during it."""
    sent = {"before": 1_000.0, "during-1": 6_000.0, "during-2": 9_000.0, "after": 10_500.0}
    assert faults.recovery(Fault("es-outage", 5_000.0, 10_000.0), sent, seen) == expected


def test_the_burst_detail_overflows_both_lines_but_fits_the_request_line() -> None:
    """256 kept characters cost > 2048 bytes as JSON (error line twice over 4096 with the
    rest); the URL-encoded detail stays under gunicorn's 4094-byte request line."""
    detail = faults.large_detail(3500)
    assert len(json.dumps(detail[:256])) > 2048
    assert 3000 < len(quote(detail)) < faults.MAX_REQUEST_LINE - 100
    assert len(quote(faults.large_detail(99_999))) < faults.MAX_REQUEST_LINE - 100


def test_decode_windows_cover_each_kind_and_the_run() -> None:
    """One window per kind of fault, from its first start to a look-ahead after its last end."""
    faults = [
        Fault("rotation", 10_000.0, 10_100.0),
        Fault("es-outage", 20_000.0, 60_000.0),
        Fault("rotation", 30_000.0, 30_100.0),
    ]
    windows = ledger.decode_windows(faults, 5_000.0, 90_000.0)
    assert windows["rotation"] == (9_000.0, 30_100.0 + ledger.DECODE_LOOKAHEAD_MS)
    assert windows["es-outage"] == (19_000.0, 60_000.0 + ledger.DECODE_LOOKAHEAD_MS)
    assert windows["run"][1] == 90_000.0


def test_rows_per_kind_with_rotations_during_an_outage_not_timed() -> None:
    """Rotations sum up in one row; one inside the ES outage is left out of its timing."""
    sent = {"a": 1_000.0, "b": 5_000.0, "c": 21_000.0, "d": 31_000.0}
    seen = {"a": 1_500.0, "b": 26_000.0, "c": 26_500.0, "d": 32_000.0}
    faults = [
        Fault("es-outage", 4_000.0, 20_000.0),
        Fault("rotation", 5_000.0, 5_100.0),
        Fault("rotation", 30_000.0, 30_100.0),
    ]
    ledger = Ledger(
        expected={},
        lines=Lines(),
        balance={i: Balance(3, 3) for i in sent} | {"b": Balance(3, 2)},
        waited_s=0.0,
        lost_detail=[],
        undecodable={"run": 0, "es-outage": 0, "rotation": 0},
    )
    rows = report.fault_rows(faults, sent, seen, ledger, t0_ms=0.0)
    assert [row[0] for row in rows] == [
        "Elasticsearch down 16 s",
        "log rotations x2",
        "whole run",
    ]
    outage, rotations, whole = rows
    assert outage[2:7] == ("1", "3", "2", "1", "0")  # b: sent during, one line lost
    assert "backlog of 1 IDs drained after 6.0 s" in outage[8]
    assert "max 1.9 s" in rotations[8] and "1 during the ES/Filebeat faults" in rotations[8]
    assert whole[2:7] == ("4", "12", "11", "1", "0")
    assert not ledger.ok
