"""Tests for loadgen/load.py: how a rate becomes users, following the manifest as it grows."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadgen import load, manifest
from tests.helpers import record


@pytest.mark.parametrize(
    ("rate", "users", "user_rate"),
    [
        pytest.param(20, 20, 1.0, id="20-per-s"),
        pytest.param(2.5, 3, 2.5 / 3, id="fractional"),
        pytest.param(0.2, 1, 0.2, id="below-one"),
        pytest.param(500, 500, 1.0, id="many"),
    ],
)
def test_pacing(rate: float, users: int, user_rate: float) -> None:
    """About one request per user per second; users x per-user rate is the target."""
    assert load.pacing(rate) == (users, pytest.approx(user_rate))


def test_pacing_rejects_zero() -> None:
    """A rate of 0 is a mistake, not an endless idle run."""
    with pytest.raises(ValueError):
        load.pacing(0)


def test_manifest_tail_returns_only_complete_lines(tmp_path: Path) -> None:
    """A line Locust is still writing is held back until its newline arrives."""
    path = tmp_path / manifest.MANIFEST
    tail = load.ManifestTail(path)
    assert tail.read() == []
    first, second = record("names", "a").to_json(), record("names", "b").to_json()
    path.write_text(first + "\n" + second[:20])
    assert [r.tracking_id for r in tail.read()] == ["a"]
    with path.open("a") as out:
        out.write(second[20:] + "\n")
    assert [r.tracking_id for r in tail.read()] == ["b"]
    tail.close()


def test_headless_command_holds_the_run_time_and_writes_reports(tmp_path: Path) -> None:
    """Headless Locust gets the run time, the pacing and the run folder's report paths."""
    options = load.Options(rate=20, duration_s=30, service_url="http://s:1", runs_root=tmp_path)
    command = load.locust_command(options, tmp_path / "R", 20, 1.0)
    joined = " ".join(command)
    for part in (
        "--headless",
        "--run-time 30s",
        "--users 20",
        "--user-rate 1",
        "--host http://s:1",
    ):
        assert part in joined
    assert f"--html {tmp_path / 'R' / 'report.html'}" in joined
    ui = load.locust_command(load.Options(20, 30, "http://s:1", tmp_path, ui=True), tmp_path, 20, 1)
    assert "--headless" not in ui and "--web-port" in ui
    assert "--entries" not in command  # the whole mix unless asked


def test_entries_reach_locust_as_one_argument(tmp_path: Path) -> None:
    """`make load ENTRIES="health names"` -> the locustfile's --entries health,names."""
    options = load.Options(20, 30, "http://s:1", tmp_path, entries=("health", "names"))
    command = load.locust_command(options, tmp_path / "R", 20, 1.0)
    assert command[command.index("--entries") + 1] == "health,names"


@pytest.mark.parametrize(
    ("ui", "remote", "expected", "absent"),
    [
        pytest.param(
            False, 0, ["--master", "--expect-workers 2", "--run-seconds 30"], "--run-time",
            id="headless-2-workers",
        ),
        pytest.param(False, 3, ["--master", "--expect-workers 5"], "--run-time", id="remote"),
        pytest.param(True, 0, ["--master", "--web-port", "--expect-workers 2"], "--headless",
                     id="web-ui-with-workers"),
    ],
)  # fmt: skip
def test_distributed_command_runs_a_master(
    tmp_path: Path, ui: bool, remote: int, expected: list[str], absent: str
) -> None:
    """WORKERS=2: the master waits for all workers; headless, the locustfile ends the run
    (--run-seconds, so the workers' last records arrive) instead of Locust's --run-time."""
    options = load.Options(20, 30, "http://s:1", tmp_path, ui=ui, workers=2, remote_workers=remote)
    joined = " ".join(load.locust_command(options, tmp_path / "R", 20, 1.0))
    for part in expected:
        assert part in joined
    assert absent not in joined
    assert "--master-bind-host 127.0.0.1" in joined


def test_one_process_has_no_master(tmp_path: Path) -> None:
    """WORKERS unset (0) is today's single process: no --master, Locust's own --run-time."""
    options = load.Options(20, 30, "http://s:1", tmp_path)
    command = load.locust_command(options, tmp_path / "R", 20, 1.0)
    assert "--master" not in command and "--run-seconds" not in command


def test_worker_command_points_at_the_master() -> None:
    """A worker only needs the master's address: host, users and pacing come from it."""
    command = " ".join(load.worker_command("10.0.0.5", 5557))
    assert "--worker --master-host 10.0.0.5 --master-port 5557" in command
    assert "--users" not in command and "--host" not in command


def test_progress_never_prints_the_same_line_twice(capsys: pytest.CaptureFixture[str]) -> None:
    """The end of sending and the end of settling both force a line: "done" appears once."""
    progress = load.Progress(5, 3)
    progress.tty = False
    progress.add([record("health")])
    progress.settling = True
    progress.show(1, force=True)
    progress.show(1, force=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["sent 1  errors 0  searchable 1/1  done"]


@pytest.mark.parametrize(
    ("argv", "seconds"),
    [
        pytest.param([], 0.25, id="default"),
        pytest.param(["--watch-poll", "0.1"], 0.1, id="faster"),
        pytest.param(["--watch-poll", "0.05"], 0.05, id="lowest"),
        pytest.param(["--watch-poll", "5"], 5.0, id="highest"),
    ],
)
def test_watch_poll_is_read(argv: list[str], seconds: float) -> None:
    """--watch-poll sets the seconds between the watch's searches (bench.refresh's tables)."""
    from loadgen.__main__ import _parser

    assert _parser().parse_args(["load", *argv]).watch_poll == seconds


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("0", id="zero"),
        pytest.param("0.01", id="too-often"),
        pytest.param("60", id="too-rare"),
        pytest.param("soon", id="not-a-number"),
        pytest.param("nan", id="nan"),
    ],
)
def test_watch_poll_out_of_range_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A value outside 0.05-5 s is refused by argparse (exit 2, the option named)."""
    from loadgen.__main__ import _parser

    with pytest.raises(SystemExit) as stop:
        _parser().parse_args(["load", "--watch-poll", value])
    assert stop.value.code == 2
    assert "--watch-poll" in capsys.readouterr().err
