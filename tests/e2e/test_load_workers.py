"""`make load WORKERS=2` -> `make verify`: Locust's master and two worker processes, one manifest.

The rate is a fixed, conservative 60 req/s: CI has two cores for the whole stack, where one
Locust process already sends more than the service answers (README, "Scaling out", has the
figures measured here). What this proves is the distributed machinery: the rate split exactly
across the workers, every request in the master's one manifest exactly once, and every
tracking ID found by the unchanged `make verify`.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from loadgen import manifest
from loadgen.mix import SEQ_BLOCK
from tests.helpers import VERIFIED, Stack, loadgen

RATE, DURATION, WORKERS = 60, 20, 2


def test_two_workers_hold_the_rate_and_every_id_is_verified(stack: Stack, tmp_path: Path) -> None:
    """achieved/target >= 0.98, both workers sent, each request once, verify finds N/N."""
    result = loadgen(
        *("load", "--rate", str(RATE), "--duration", str(DURATION)),
        *("--workers", str(WORKERS), "--runs-dir", str(tmp_path), "--no-watch", "--settle", "0"),
        timeout_s=240,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    folder = manifest.latest_run(tmp_path)
    info = json.loads((folder / manifest.RUN_INFO).read_text())
    assert info["workers"] == WORKERS
    assert info["achieved_rate"] / RATE >= 0.98, result.stdout
    records = manifest.read(folder)
    assert len(records) == info["requests"] >= 0.98 * RATE * DURATION
    per_worker = Counter(record.seq // SEQ_BLOCK for record in records)
    assert set(per_worker) == set(range(WORKERS)), per_worker
    # Locust splits users evenly and each user keeps its pace: the workers' shares match.
    assert min(per_worker.values()) >= 0.45 * len(records), per_worker
    assert len({record.seq for record in records}) == len(records), "a request twice"
    sent_ids = [record.sent_id for record in records if record.client_chose]
    assert sent_ids and len(set(sent_ids)) == len(sent_ids), "client IDs collide across workers"
    for log in ("worker-1.log", "worker-2.log", "locust.log"):
        assert "Traceback" not in (folder / log).read_text(), log

    verified = loadgen("verify", str(folder))
    assert verified.returncode == 0, f"{verified.stdout}\n{verified.stderr}"
    match = VERIFIED.match(verified.stdout.rstrip().splitlines()[-1])
    assert match, verified.stdout
    found, total = int(match[1]), int(match[2])
    assert found == total == len({r.tracking_id for r in records if r.tracking_id})
