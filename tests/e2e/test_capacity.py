"""`make bench-capacity`'s short form: the same module (python -m bench.capacity) with two
10 s steps at low rates, after an 8 s warm-up. Nothing is lost or duplicated, every
component's CPU is read, and the table, JSON and picture are written. Time to searchable is
reported, not asserted here: on a shared 2-core machine it is a measurement
(docs/PERFORMANCE.md), not a pass/fail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.capacity import COMPONENTS
from setup.project import REPO
from tests.helpers import Stack

SHORT = ("--rates", "20", "40", "--duration", "10", "--settle", "5", "--warmup", "8")


def test_capacity_steps_account_for_every_line(stack: Stack, tmp_path: Path) -> None:
    """Two steps (20, 40 req/s): 0 lost, 0 duplicated, CPU of each component, table and PNG."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.capacity", *SHORT, "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,  # a guard on a busy machine, not a target
        check=False,
    )
    print(result.stdout)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    steps = json.loads((tmp_path / "capacity.json").read_text())
    assert [step["target_rate"] for step in steps] == [20, 40]
    for step in steps:
        assert step["requests"] >= 0.8 * step["target_rate"] * step["duration_s"], step
        assert step["lines"] >= step["ids"] > 0, step
        assert (step["lost_ids"], step["lost_lines"], step["duplicated"]) == (0, 0, 0), step
        assert step["not_json"] == 0, step
        assert step["lines"] == step["documents"], step
        assert set(step["cpu_share"]) == set(COMPONENTS), step
        # Busy in every step; Elasticsearch indexes ~100 documents/s here, under one clock
        # tick (10 ms) of CPU some seconds, so only its presence is checked.
        for name in ("service", "loadgen"):
            assert step["cpu_share"][name] > 0, (name, step["cpu_share"])
        assert all(share >= 0 for share in step["cpu_share"].values()), step["cpu_share"]
    table = (tmp_path / "capacity.txt").read_text()
    assert all(name in table for name in COMPONENTS), table
    # The warm-up ran first at the first rate, is kept, and is not a step.
    warmup = json.loads((tmp_path / "warmup.json").read_text())
    assert (warmup["target_rate"], warmup["duration_s"]) == (20, 8), warmup
    assert (warmup["lost_ids"], warmup["duplicated"]) == (0, 0), warmup
    assert "warm-up: 8 s at 20 req/s (not a step): achieved" in table, table
    assert (tmp_path / "capacity.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
