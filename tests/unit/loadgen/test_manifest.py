"""Tests for loadgen/manifest.py: one JSON line per request, run folders, sightings."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loadgen import manifest
from loadgen.manifest import ManifestError, Sighting
from tests.helpers import record


@pytest.mark.parametrize(
    ("sent_id", "returned_id", "client_chose", "replaced"),
    [
        pytest.param(None, "server-made", False, False, id="server-chose"),
        pytest.param("lg-run-0000001", "lg-run-0000001", True, False, id="client-kept"),
        pytest.param("not a valid id", "new-uuid", False, True, id="invalid-replaced"),
        pytest.param("lg-run-0000002", None, False, False, id="no-response"),
    ],
)
def test_id_bookkeeping(
    sent_id: str | None, returned_id: str | None, client_chose: bool, replaced: bool
) -> None:
    """Who chose the ID, and whether an invalid one was replaced, follow from sent vs returned."""
    r = record(sent_id=sent_id, returned_id=returned_id)
    assert (r.client_chose, r.replaced) == (client_chose, replaced)
    assert r.tracking_id == returned_id


def test_expected_status_and_latency() -> None:
    """A 500 from /api/error is expected; latency is receive minus send."""
    r = record(endpoint="error", status=500, expected_status=500)
    assert r.expected and r.latency_ms == pytest.approx(12.5)
    assert not record(status=502).expected


def test_lines_round_trip() -> None:
    """What write() puts out, parse() reads back unchanged, one line each."""
    records = [record(seq=n, sent_ms=1000.0 + n) for n in range(1, 4)]
    out = io.StringIO()
    for r in records:
        manifest.write(out, r)
    text = out.getvalue()
    assert text.count("\n") == 3
    assert list(manifest.parse(text.splitlines())) == records


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param("{not json", "line 2", id="not-json"),
        pytest.param("[1, 2]", "not a JSON object", id="not-an-object"),
        pytest.param('{"seq": 1}', "line 2", id="missing-fields"),
        pytest.param(record().to_json()[:-1] + ',"extra":1}', "unknown fields", id="unknown"),
    ],
)
def test_bad_lines_are_named(line: str, message: str) -> None:
    """A broken manifest line fails with its line number and what is wrong."""
    with pytest.raises(ManifestError, match=message):
        list(manifest.parse([record().to_json(), line], "m.jsonl"))


def test_run_folders_sort_by_time_and_never_collide(tmp_path: Path) -> None:
    """Run folders are named by UTC start time; a second one in the same second gets -2."""
    at = datetime(2026, 11, 21, 18, 0, 5, tzinfo=UTC)
    first = manifest.new_run_dir(tmp_path, at)
    second = manifest.new_run_dir(tmp_path, at)
    assert (first.name, second.name) == ("20261121T180005Z", "20261121T180005Z-2")


def test_latest_run_is_the_newest_with_a_manifest(tmp_path: Path) -> None:
    """The default run for verify: the newest folder that has a manifest."""
    with pytest.raises(ManifestError, match="make load"):
        manifest.latest_run(tmp_path)
    for name in ("20261121T100000Z", "20261121T110000Z"):
        (tmp_path / name).mkdir()
        (tmp_path / name / manifest.MANIFEST).write_text("")
    (tmp_path / "20261121T120000Z").mkdir()  # a run that never got going
    assert manifest.latest_run(tmp_path).name == "20261121T110000Z"


def test_read_names_a_folder_without_manifest(tmp_path: Path) -> None:
    """verify RUN=<not a run> says so instead of a traceback."""
    with pytest.raises(ManifestError, match="does not exist"):
        manifest.read(tmp_path)


def test_earliest_sighting_wins(tmp_path: Path) -> None:
    """If load and verify both saw an ID, the earlier sighting is the one that counts."""
    lines = [
        Sighting("a", 2000.0, None, "verify"),
        Sighting("a", 1500.0, 1250.0, "load"),
        Sighting("b", 1700.0, None, "load"),
    ]
    (tmp_path / manifest.SEARCHABLE).write_text("".join(s.to_json() + "\n" for s in lines))
    seen = manifest.read_sightings(tmp_path)
    assert seen == {"a": lines[1], "b": lines[2]}
