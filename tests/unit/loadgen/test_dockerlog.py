"""loadgen.dockerlog writes what Docker's json-file driver writes (moby daemon/logger)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from loadgen.dockerlog import (
    DOCKER_CHUNK,
    JsonFileLog,
    Relay,
    container_id,
    messages,
    rfc3339nano,
)


def test_container_id_is_64_hex() -> None:
    """Docker's ids: 64 lowercase hex digits, a new one each time."""
    first, second = container_id(), container_id()
    assert re.fullmatch(r"[0-9a-f]{64}", first) and first != second


@pytest.mark.parametrize(
    ("epoch_ns", "expected"),
    [
        pytest.param(1_700_000_000_123_456_789, "2023-11-14T22:13:20.123456789Z", id="nanos"),
        pytest.param(1_700_000_000_120_000_000, "2023-11-14T22:13:20.12Z", id="trailing-zeros"),
        pytest.param(1_700_000_000_000_000_000, "2023-11-14T22:13:20Z", id="whole-second"),
    ],
)
def test_rfc3339nano(epoch_ns: int, expected: str) -> None:
    """Go's RFC3339Nano drops trailing zeros of the fraction, and the dot with them."""
    assert rfc3339nano(epoch_ns) == expected


@pytest.mark.parametrize(
    ("length", "parts"),
    [
        pytest.param(0, 1, id="empty-line"),
        pytest.param(100, 1, id="short"),
        pytest.param(DOCKER_CHUNK, 1, id="exactly-16KiB"),
        pytest.param(DOCKER_CHUNK + 1, 2, id="16KiB-plus-1"),
        pytest.param(2 * DOCKER_CHUNK + 5000, 3, id="two-and-a-bit"),
    ],
)
def test_messages_split_at_16_kib(length: int, parts: int) -> None:
    """A line becomes ceil(len/16 KiB) messages; only the last "log" ends in a newline, and
    joined they give the line back."""
    line = "x" * length
    records = [json.loads(r) for r in messages(line, "stderr", 1_700_000_000_000_000_001)]
    assert len(records) == parts
    assert [r["log"].endswith("\n") for r in records] == [False] * (parts - 1) + [True]
    assert "".join(r["log"] for r in records) == line + "\n"
    assert all(len(r["log"].rstrip("\n").encode()) <= DOCKER_CHUNK for r in records)
    assert {r["stream"] for r in records} == {"stderr"}
    assert {r["time"] for r in records} == {"2023-11-14T22:13:20.000000001Z"}


def test_messages_escape_like_go() -> None:
    """Go's encoder: <, > and & as \\u escapes; other non-ASCII stays UTF-8; keys in order."""
    (record,) = messages('<a href="x">&é', epoch_ns=0)
    assert record == (
        b'{"log":"\\u003ca href=\\"x\\"\\u003e\\u0026\xc3\xa9\\n","stream":"stdout",'
        b'"time":"1970-01-01T00:00:00Z"}\n'
    )


def test_messages_reject_unknown_stream() -> None:
    """Only stdout and stderr exist."""
    with pytest.raises(ValueError, match="stream"):
        messages("x", "stdin")


def test_rotation_order_and_max_file(tmp_path: Path) -> None:
    """Rotation as logfile.go does it: when the live file holds >= max-size before a write,
    .1 -> .2, live -> .1 (renames: inodes move with the data), the oldest deleted, a new
    live file at the same path; never more than max-file files."""
    log = JsonFileLog(tmp_path, max_size=200, max_file=3)
    assert log.path == tmp_path / log.id / f"{log.id}-json.log"
    inodes = []
    for number in range(4):
        log.write(f"line {number} " + "y" * 150)  # each record > 200 bytes: one per file
        inodes.append(log.path.stat().st_ino)
    assert log.rotations == 3 and log.deleted == 1 and log.lines == 4
    files = log.files()
    assert [p.name for p in files] == [
        f"{log.id}-json.log",
        f"{log.id}-json.log.1",
        f"{log.id}-json.log.2",
    ]
    # newest first: line 3 live, line 2 in .1, line 1 in .2; line 0's file was deleted
    assert [json.loads(p.read_text())["log"][:6] for p in files] == ["line 3", "line 2", "line 1"]
    assert [p.stat().st_ino for p in files] == inodes[:0:-1]
    log.remove()
    assert not log.folder.exists()


def test_rotation_checks_before_the_write(tmp_path: Path) -> None:
    """A file may pass max-size by one message: the check is made before writing."""
    log = JsonFileLog(tmp_path, max_size=100, max_file=2)
    log.write("z" * 500)
    assert log.rotations == 0 and log.path.stat().st_size > 500
    log.write("n" * 60)  # a ~120-byte record: the next write rotates again
    assert log.rotations == 1 and log.deleted == 0
    log.write("third")
    assert log.rotations == 2 and log.deleted == 1 and len(log.files()) == 2
    log.close()


def test_a_rotation_can_split_a_long_line_across_files(tmp_path: Path) -> None:
    """Docker checks the size before each 16 KiB message, so a long line's messages can land
    in two files; write() says so, and short lines are never split."""
    log = JsonFileLog(tmp_path, max_size=DOCKER_CHUNK, max_file=3)
    assert log.write("a" * 100) is False
    assert log.write("b" * (2 * DOCKER_CHUNK)) is True  # the first message filled the file
    assert log.split_lines == 1 and log.rotations == 1
    first, second = log.files()[1], log.files()[0]
    assert not json.loads(first.read_text().splitlines()[-1])["log"].endswith("\n")
    assert json.loads(second.read_text().splitlines()[0])["log"].endswith("\n")
    log.close()


def test_relay_copies_complete_lines_as_docker_would(tmp_path: Path) -> None:
    """Lines appended after the relay starts, and only complete ones, reach the container
    log in order, each one json-file record; a partial line waits for its newline."""
    source = tmp_path / "service.ndjson"
    source.write_text('{"before": 1}\n')
    relay = Relay([source], tmp_path / "containers", max_size=10_000, max_file=2)
    with source.open("a") as out:
        out.write('{"n": 1}\n{"n": 2}\n{"n": ')
    assert relay.pump() == 2
    with source.open("a") as out:
        out.write("3}\n")
    assert relay.pump() == 1
    relay.rotate()
    (log,) = relay.logs.values()
    rotated = log.files()[1]
    assert [json.loads(r)["log"] for r in rotated.read_text().splitlines()] == [
        '{"n": 1}\n',
        '{"n": 2}\n',
        '{"n": 3}\n',
    ]
    relay.close()
