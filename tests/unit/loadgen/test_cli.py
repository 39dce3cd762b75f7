"""Every command-line tool (loadgen/cli.py): quiet when its reader closes the pipe, names the
piece of the stack that is down and how to start it, and reads names as the tools print them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen import cli, manifest
from loadgen.elastic import REPO
from loadgen.manifest import Record

DOWN = "http://127.0.0.1:9"  # the discard port: nothing listens there
ES_DOWN = (
    f"Elasticsearch at {DOWN} is not reachable: start the stack with make native-up (or make up)"
)
SERVICE_DOWN = (
    f"the service at {DOWN} is not reachable: start the stack with make native-up (or make up)"
)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run folder with one request, as `make load` writes it."""
    folder = tmp_path / "runs" / "20261121T185741Z"
    folder.mkdir(parents=True)
    record = Record(
        1, "names", "names", "GET", "/api/names", "t-1", None, False, False, False, 200, True, 1, 2
    )
    (folder / manifest.MANIFEST).write_text(record.to_json() + "\n")
    return folder


@pytest.fixture
def labs_dir(tmp_path: Path) -> Path:
    """Answer files for lab 1 (asks nothing of Elasticsearch) and lab 4 (asks it)."""
    folder = tmp_path / "labs"
    folder.mkdir()
    (folder / "lab1.answer.json").write_text(json.dumps({"tracking_id": "t", "lines": 4}))
    lab4 = {"tracking_id": "lab4-x", "path": "/api/names", "debug_per_request": 1}
    (folder / "lab4.answer.json").write_text(json.dumps(lab4 | {"reason": "bad token"}))
    return folder


def tool(args: list[str], env: dict[str, str], stdout: int | None = subprocess.PIPE):
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=os.environ | {"ES_URL": DOWN, "SERVICE_URL": DOWN, "KIBANA_URL": DOWN} | env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(["loadgen", "trace", "t-1", "--wait", "0"], ES_DOWN, id="trace"),
        pytest.param(["loadgen", "verify", "{run}", "--timeout", "0"], ES_DOWN, id="verify"),
        pytest.param(["workshop", "check", "4", "debug=1 reason=x"], ES_DOWN, id="lab-check"),
        pytest.param(["loadgen", "load", "--duration", "1"], SERVICE_DOWN, id="load"),
        pytest.param(["workshop", "create", "1"], SERVICE_DOWN, id="lab"),
    ],
)
def test_a_piece_that_is_down_is_named_with_the_command_that_starts_it(
    args: list[str], says: str, run_dir: Path, labs_dir: Path
) -> None:
    """Exit 2 and one line naming the piece, its URL and make native-up; no traceback."""
    args = [arg.replace("{run}", str(run_dir)) for arg in args]
    result = tool(args, {"LABS_DIR": str(labs_dir), "RUNS_DIR": str(run_dir.parent)})
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["loadgen.kibana", "t-1"], id="kibana"),
        pytest.param(["workshop", "check", "1", "lines=4"], id="lab-check"),
    ],
)
def test_a_closed_output_pipe_ends_the_tool_quietly(args: list[str], labs_dir: Path) -> None:
    """`tool | head` where head has gone: exit 0 and no BrokenPipeError on stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the tool writes its first byte
    try:
        result = tool(args, {"LABS_DIR": str(labs_dir)}, stdout=write_end)
    finally:
        os.close(write_end)
    assert "BrokenPipe" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0


@pytest.mark.parametrize(
    "copied",
    [
        pytest.param("ec9f560f-85d5", id="bare"),
        pytest.param('"ec9f560f-85d5"', id="json-quotes"),
        pytest.param("'ec9f560f-85d5'", id="single-quotes"),
        pytest.param(' "ec9f560f-85d5", ', id="json-value-with-comma-and-spaces"),
        pytest.param('tracking_id:"ec9f560f-85d5"', id="kql"),
        pytest.param('"tracking_id":"ec9f560f-85d5"', id="json-member"),
    ],
)
def test_tracking_id_as_copied(copied: str) -> None:
    """A tracking ID copied from a JSON body, a KQL query or a header reads as the bare ID."""
    assert cli.tracking_id(copied) == "ec9f560f-85d5"


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("{root}/20261121T185741Z", id="path"),
        pytest.param("{root}/20261121T185741Z/", id="trailing-slash"),
        pytest.param("20261121T185741Z", id="name-as-verify-prints-it"),
        pytest.param("runs/20261121T185741Z", id="as-load-prints-it"),
        pytest.param("{root}/20261121T185741Z/summary.txt", id="a-file-in-the-run"),
    ],
)
def test_find_run_accepts_what_the_tools_print(
    given: str, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make verify RUN=...` takes a run as load, verify or ls show it."""
    monkeypatch.chdir(run_dir.parent.parent)
    (run_dir / "summary.txt").write_text("")
    found = manifest.find_run(given.replace("{root}", str(run_dir.parent)), run_dir.parent)
    assert found.resolve() == run_dir.resolve()


def test_find_run_says_where_runs_are(run_dir: Path) -> None:
    """An unknown run names the folder to look in."""
    with pytest.raises(manifest.ManifestError, match="ls "):
        manifest.find_run("20990101T000000Z", run_dir.parent)
