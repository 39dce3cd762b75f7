"""Where a request's CPU goes: one app of `make bench` under wrk, sampled by py-spy.

``python -m bench.profile trackstack /api/health`` starts the app as `make bench` does
(2 gevent workers), drives it with wrk, and meanwhile:

* reads each worker's CPU time from ``/proc/<pid>/stat`` (utime + stime) before and after,
  so CPU µs per request = worker CPU / requests served: a figure that contention on a shared
  machine disturbs far less than requests/s;
* samples every worker with ``py-spy record --format raw`` (collapsed stacks, all threads).

It prints CPU µs per request, then the functions with the largest inclusive share of the
samples, each share also as µs per request (share x CPU µs per request).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.service_overhead import APPS, load, start
from setup.project import free_port

TICK = os.sysconf("SC_CLK_TCK")


def workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), seconds (proc(5): fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=list(APPS))
    parser.add_argument("path", nargs="?", default="/api/health")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="trackstack-profile-"))
    port = free_port()
    proc = start(APPS[args.app], port, folder / "app.log")
    try:
        subprocess.run(
            ["wrk", "-t1", "-c8", "-d2s", f"http://127.0.0.1:{port}{args.path}"],
            capture_output=True,
            check=True,
        )
        pids = workers(proc.pid)
        before = sum(cpu_seconds(pid) for pid in pids)
        spies = [
            subprocess.Popen(
                [
                    sys.executable.replace("python", "py-spy"),
                    "record",
                    "--pid",
                    str(pid),
                    "--threads",
                    "--format",
                    "raw",
                    "--rate",
                    "250",
                    "--duration",
                    str(args.seconds),
                    "--nonblocking",
                    "--output",
                    str(folder / f"{pid}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid in pids
        ]
        time.sleep(0.5)
        result = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{args.connections}",
                f"-d{args.seconds - 1}s",
                f"http://127.0.0.1:{port}{args.path}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        after = sum(cpu_seconds(pid) for pid in pids)
        for spy in spies:
            spy.wait(timeout=60)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    requests = int(re.search(r"(\d+) requests in", result.stdout)[1])  # type: ignore[index]
    us_per_request = (after - before) / requests * 1e6
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for path in folder.glob("*.txt"):
        if path.name == "app.log":
            continue
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            total += int(count)
            frames = {re.sub(r" \(.*?:\d+\)$", "", f) for f in stack.split(";")[1:]}
            for frame in frames:
                inclusive[frame] += int(count)
    print(
        f"{args.app} {args.path}: {requests} requests,"
        f" {us_per_request:.0f} CPU us/request ({load()})"
    )
    print(f"{'share':>6} {'us/req':>7}  function (inclusive, {total} samples)")
    for frame, samples in inclusive.most_common(args.top):
        share = samples / total
        print(f"{share:>6.1%} {share * us_per_request:>7.1f}  {frame}")


if __name__ == "__main__":
    main()
