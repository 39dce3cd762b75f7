"""CPU per request of each row of the traffic mix, per component of the running native stack.

``python -m bench.entry_cost`` (``make bench-entries``; needs ``make native-up``) sends one row
of the mix at a time (``python -m loadgen load --entries <row> --no-watch``, ``--rate`` req/s
for ``--duration`` s) and reads the CPU time (utime + stime, ``/proc/<pid>/stat``) of the
service's gunicorn workers, orders (uvicorn), Filebeat, Elasticsearch and the Locust process
over the steady middle of each run. CPU µs per request = that component's CPU seconds ÷ the
requests the run sent in the same window. The mix's weights then give each row's share of a
full-mix request's CPU: which kind of request makes the stack saturate where it does
(docs/PERFORMANCE.md, "Capacity"). The load runs with ``--no-watch``: nothing polls
Elasticsearch, so its figure is indexing alone. Elasticsearch's figure varies most from run to
run: for /api/health, 1,329 µs in one run and 4,090-9,147 µs in four others on the same
machine the same morning (docs/PERFORMANCE.md). Run it more than once before you quote it. Writes
``<out>/entry_cost.json``.

Rows that wait (``/api/users``' simulated 100 ms database call, ``/api/slow``) cost little
CPU; what they hold is connections. Nothing here passes or fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.capacity import PIDFILES, component_pids, cpu_now, cpu_used, tree_cpu
from loadgen import manifest, mix
from setup.project import REPO

COMPONENTS = [*PIDFILES, "loadgen"]


def idle(seconds: float = 5) -> dict[str, float]:
    """Each component's CPU with no traffic (cores): timers, heartbeats, Elasticsearch's own
    housekeeping; subtracted from the rows' figures."""
    pids = component_pids()
    before = cpu_now(pids)
    time.sleep(seconds)
    after = cpu_now(pids)
    return {name: cpu_used(before, after, name) / seconds for name in PIDFILES}


def measure(
    row: str, rate: float, duration: int, runs: Path, baseline: dict[str, float]
) -> dict[str, Any]:
    """One row at ``rate`` for ``duration`` s: CPU µs per request of each component, its
    idle CPU (``baseline``, cores) taken off."""
    pids = component_pids()
    folder = runs / row
    command = [sys.executable, "-m", "loadgen", "load", "--entries", row, "--no-watch"]
    command += ["--rate", str(rate), "--duration", str(duration), "--settle", "0"]
    command += ["--runs-dir", str(folder)]
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "load.log").open("w") as log:
        load = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        time.sleep(5)  # Python and Locust start, users ramp up
        before = cpu_now(pids) | {"loadgen": tree_cpu([load.pid])}
        start_ms = time.time() * 1000
        time.sleep(max(duration - 7, 1))
        after = cpu_now(pids) | {"loadgen": tree_cpu([load.pid])}
        end_ms = time.time() * 1000
        load.wait()
    window = (end_ms - start_ms) / 1000
    records = manifest.read(manifest.latest_run(folder))
    sent = sum(1 for r in records if start_ms <= r.sent_ms < end_ms)
    if not sent:
        raise SystemExit(f"entry_cost: no request of {row} in the window; see {folder}")
    cost = {
        name: (cpu_used(before, after, name) - baseline.get(name, 0.0) * window) / sent * 1e6
        for name in COMPONENTS
    }
    return {"row": row, "requests": sent, "cpu_us": {k: round(v) for k, v in cost.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100, help="req/s of each row (100)")
    parser.add_argument("--duration", type=int, default=20, help="seconds per row (20)")
    parser.add_argument(
        "--entries", nargs="+", default=[e.name for e in mix.MIX], help="rows (all)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "runs" / "entry-cost",
        help="folder for the run folders and entry_cost.json (runs/entry-cost)",
    )
    args = parser.parse_args()
    rows = mix.only(args.entries)
    weights = {entry.name: entry.weight for entry in mix.MIX}
    print(
        f"entry_cost: {os.cpu_count()} CPUs, {args.rate:g} req/s x {args.duration} s per row,"
        f" load average {os.getloadavg()[0]:.2f}; CPU µs per request"
    )
    baseline = idle()
    print("idle (cores, taken off): " + ", ".join(f"{k} {v:.3f}" for k, v in baseline.items()))
    header = f"{'row':18} {'weight':>6} " + " ".join(f"{c:>13}" for c in COMPONENTS)
    print(header + f" {'stack':>7}")
    results = []
    for entry in rows:
        result = measure(entry.name, args.rate, args.duration, args.out, baseline)
        results.append(result)
        cost = result["cpu_us"]
        stack = sum(v for k, v in cost.items() if k != "loadgen")
        print(
            f"{entry.name:18} {weights[entry.name]:>5}% "
            + " ".join(f"{cost[c]:>13}" for c in COMPONENTS)
            + f" {stack:>7}",
            flush=True,
        )
    if len(results) == len(mix.MIX):
        mean = {
            c: sum(r["cpu_us"][c] * weights[r["row"]] for r in results) / 100 for c in COMPONENTS
        }
        print(
            f"{'weighted mix':18} {100:>5}% "
            + " ".join(f"{mean[c]:>13.0f}" for c in COMPONENTS)
            + f" {sum(v for k, v in mean.items() if k != 'loadgen'):>7.0f}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "entry_cost.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"entry_cost: {args.out / 'entry_cost.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
