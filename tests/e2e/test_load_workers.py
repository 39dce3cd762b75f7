"""`make load WORKERS=2` -> `make verify`: Locust's master and two worker processes, one
manifest, at a rate one Locust process cannot hold.

On this machine's two cores the stack saturates long before one unhindered Locust process
does (README, "Scaling out": one process spends 0.31 cores on 300 req/s of /api/health, about
1 ms a request, so a core of its own would carry it near 1,000 req/s; the whole co-located
stack delivers about 735 req/s of /api/health and 350 of the full mix). So the test makes
the load generator the bottleneck on purpose: every Locust process that sends requests gets
the same CPU cap (``CORES`` of a core, a cgroup of its own, from its first request on; the
master sends nothing and is not capped), and the traffic is /api/health only
(``--entries health``), the service's cheapest path. The test measures the rate first: one
capped process asked for PROBE_RATE sends S req/s; two capped workers must then hold
HEADROOM x S: achieved/target >= 0.98, each worker's share about half, every request once in
the master's one manifest, every tracking ID found by the unchanged `make verify`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.capacity import tree
from loadgen import manifest
from loadgen.mix import SEQ_BLOCK
from setup.project import REPO
from tests.helpers import VERIFIED, CpuQuota, Stack, loadgen

WORKERS = 2
CORES = 0.1  # each sending Locust process's CPU cap
PROBE_RATE, PROBE_S = 300, 12  # asked of one capped process: more than it can send
HEADROOM = 1.25  # the workers' rate, as a multiple of what one capped process sent
DURATION = 30


def sends_requests(pid: int) -> bool:
    """A Locust process that runs users: the single process, or a worker (not the master)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"locust" in argv and b"--master" not in argv


def capped_load(
    runs: Path, workers: int, rate: float, duration: int
) -> tuple[dict[str, Any], Path, str]:
    """One `python -m loadgen load` of /api/health at ``rate`` with every sending Locust process
    capped at CORES once the first request is recorded; returns (run.json, run folder, its
    output)."""
    runs.mkdir(parents=True, exist_ok=True)
    output = runs / f"load-{workers}.log"
    command = [sys.executable, "-m", "loadgen", "load", "--entries", "health"]
    command += ["--rate", str(rate), "--duration", str(duration), "--workers", str(workers)]
    command += ["--runs-dir", str(runs), "--no-watch", "--settle", "0"]
    quota = CpuQuota(CORES)
    try:
        with output.open("w") as out:
            proc = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + duration + 120
            while proc.poll() is None and time.monotonic() < deadline:
                # From the first request on: the cap models a slow sender, not a slow start
                # (Python imports and user spawning, the same in both modes, would eat the
                # first seconds of the run under the cap).
                if any(path.stat().st_size for path in runs.glob(f"*/{manifest.MANIFEST}")):
                    for pid in tree(proc.pid):
                        if pid not in quota.groups and sends_requests(pid):
                            quota.cap(pid)
                time.sleep(0.05)
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        capped = len(quota.groups)
    finally:
        quota.close()
    text = output.read_text()
    assert proc.returncode == 0, text
    assert capped == max(1, workers), f"capped {capped} Locust processes\n{text}"
    folder = manifest.latest_run(runs)
    info = json.loads((folder / manifest.RUN_INFO).read_text())
    return info, folder, text


def test_two_workers_hold_a_rate_one_capped_process_cannot(stack: Stack, tmp_path: Path) -> None:
    """Under the same cap: one process sends S req/s when asked for PROBE_RATE; two workers
    then hold HEADROOM x S (achieved/target >= 0.98), each ID once and verified."""
    single, _, single_text = capped_load(tmp_path / "one", 0, PROBE_RATE, PROBE_S)
    most = single["achieved_rate"]
    assert most < 0.8 * PROBE_RATE, f"the cap did not bind:\n{single_text}"
    rate = round(HEADROOM * most)

    info, folder, text = capped_load(tmp_path / "two", WORKERS, rate, DURATION)
    assert info["workers"] == WORKERS
    assert info["achieved_rate"] / rate >= 0.98, f"one process: {most} req/s\n{text}"
    records = manifest.read(folder)
    assert len(records) == info["requests"] >= 0.98 * rate * DURATION
    per_worker = Counter(record.seq // SEQ_BLOCK for record in records)
    assert set(per_worker) == set(range(WORKERS)), per_worker
    # Locust splits users evenly and each user keeps its pace: the workers' shares match.
    assert min(per_worker.values()) >= 0.45 * len(records), per_worker
    # Distinct seqs in distinct blocks: client-chosen IDs (loadgen.mix.client_id(run, seq))
    # cannot collide across workers either.
    assert len({record.seq for record in records}) == len(records), "a request twice"
    for log in ("worker-1.log", "worker-2.log", "locust.log"):
        assert "Traceback" not in (folder / log).read_text(), log

    verified = loadgen("verify", str(folder))
    assert verified.returncode == 0, f"{verified.stdout}\n{verified.stderr}"
    match = VERIFIED.match(verified.stdout.rstrip().splitlines()[-1])
    assert match, verified.stdout
    found, total = int(match[1]), int(match[2])
    assert found == total == len({r.tracking_id for r in records if r.tracking_id})
