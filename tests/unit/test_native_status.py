"""`make native-status` and `native/stack.sh status|down`: one line per piece (name, state,
pid, port), exit 0 when all run and 3 when any is stopped, and every piece reported the same
way by a `down` that finds it stopped. The scripts run in a copy of native/ whose .run/ is
empty (no stack), with `sleep` standing in for the pieces that run."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from setup.project import REPO

PIECES = ["elasticsearch", "esfront", "trackstack-service", "trackstack-orders", "filebeat"]
DOWN_ORDER = ["filebeat", "trackstack-service", "trackstack-orders", "esfront", "elasticsearch"]
LINE = re.compile(r"^(\S+) +(running|stopped) +(pid \d+)? +port (\d+|-)$")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A checkout with the native scripts and nothing running."""
    shutil.copytree(REPO / "native", tmp_path / "native", ignore=shutil.ignore_patterns("esfront"))
    shutil.copy(REPO / ".env", tmp_path)
    return tmp_path


@pytest.fixture
def sleeper() -> Iterator[int]:
    """A process to stand in for a running piece: its command line names orders and Filebeat
    the way theirs do (native/lib.sh trusts a pidfile only then)."""
    process = subprocess.Popen(["bash", "-c", 'exec -a "python -m orders filebeat" sleep 60'])
    yield process.pid
    process.kill()
    process.wait()


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is none of the pieces: a pid the kernel gave to something else."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def stack(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(root / "native" / "stack.sh"), command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_status_of_a_stopped_stack(root: Path) -> None:
    """Five lines, all `stopped` with their port, exit 3."""
    result = stack(root, "status")
    assert result.returncode == 3, result.stderr
    lines = [LINE.match(line) for line in result.stdout.splitlines()]
    assert all(lines), result.stdout
    assert [m[1] for m in lines if m] == PIECES
    assert {m[2] for m in lines if m} == {"stopped"}


def test_status_names_the_pid_of_what_runs(root: Path, sleeper: int) -> None:
    """A running piece shows `running` and its pid; the others stay `stopped`; exit 3."""
    for pidfile in (".run/service/trackstack-orders.pid", ".run/filebeat/filebeat.pid"):
        (root / pidfile).parent.mkdir(parents=True)
        (root / pidfile).write_text(f"{sleeper}\n")
    result = stack(root, "status")
    assert result.returncode == 3
    states = {m[1]: (m[2], m[3]) for m in map(LINE.match, result.stdout.splitlines()) if m}
    assert states["trackstack-orders"] == ("running", f"pid {sleeper}")
    assert states["filebeat"] == ("running", f"pid {sleeper}")
    assert states["trackstack-service"] == ("stopped", None)


def test_a_reused_pid_is_not_ours(root: Path, stranger: subprocess.Popen[bytes]) -> None:
    """A pidfile naming another program's pid reads as stopped, and `down` leaves it alone."""
    for pidfile in (".run/service/trackstack-orders.pid", ".run/filebeat/filebeat.pid"):
        (root / pidfile).parent.mkdir(parents=True)
        (root / pidfile).write_text(f"{stranger.pid}\n")
    result = stack(root, "status")
    states = {m[1]: m[2] for m in map(LINE.match, result.stdout.splitlines()) if m}
    assert states["trackstack-orders"] == states["filebeat"] == "stopped"
    assert stack(root, "down").returncode == 0
    assert stranger.poll() is None  # still running: never sent our signals


def test_down_twice_reports_every_piece(root: Path) -> None:
    """A `down` that finds the stack stopped says so for each of the five pieces."""
    for _ in range(2):
        result = stack(root, "down")
        assert result.returncode == 0, result.stderr
        reported = [line.split(": ", 1)[1] for line in result.stdout.splitlines()]
        assert reported == [f"{piece} was not running" for piece in DOWN_ORDER]


def test_make_native_status_ends_without_a_make_error() -> None:
    """`make native-status` prints the lines and exits 0 even when pieces are stopped."""
    result = subprocess.run(
        ["make", "native-status"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and "make: ***" not in result.stderr, result.stderr
    assert [m[1] for m in map(LINE.match, result.stdout.splitlines()) if m] == PIECES


def test_status_of_a_stopped_two_node_cluster(root: Path) -> None:
    """A remembered ES_NODES=2: both nodes and both esfronts, with node 1's ports 9203/9202."""
    (root / ".run" / "elasticsearch").mkdir(parents=True)
    (root / ".run" / "elasticsearch" / "nodes").write_text("2\n")
    result = stack(root, "status")
    assert result.returncode == 3, result.stderr
    lines = [LINE.match(line) for line in result.stdout.splitlines()]
    assert all(lines), result.stdout
    found = {m[1]: m[4] for m in lines if m}
    assert found["elasticsearch-1"] == "9203" and found["esfront-1"] == "9202"
    assert list(found)[:4] == ["elasticsearch", "esfront", "elasticsearch-1", "esfront-1"]
