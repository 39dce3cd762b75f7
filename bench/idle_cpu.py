"""CPU an idle server uses: each app of `make bench`, after a few requests, left alone.

``python -m bench.idle_cpu [--seconds 20]``: starts each app as `make bench` does (2 gevent
workers), sends 20 requests, waits 2 s, then reads utime + stime of the master and each
worker from /proc before and after ``--seconds`` of no traffic. Prints milliseconds of CPU
per second of wall time, per process: what a replica costs while nobody calls it. A thread
that polls (trackstack's writer, every 10 ms while lines come) shows here; ``make bench``'s
busy rounds hide it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.profile import TICK, cpu_seconds, workers
from bench.service_overhead import APPS, load, start
from setup.project import free_port


def idle_ms_per_s(config: str, seconds: float) -> list[float]:
    """[master, worker, worker...]: CPU ms per wall second of each, idle for ``seconds``."""
    port = free_port()
    proc = start(config, port, Path(tempfile.mkdtemp(prefix="trackstack-idle-")) / "app.log")
    try:
        for _ in range(20):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/names", timeout=5) as r:
                r.read()
        time.sleep(2)  # the last lines written, lazy imports done
        pids = [proc.pid, *workers(proc.pid)]
        before = [cpu_seconds(pid) for pid in pids]
        time.sleep(seconds)
        after = [cpu_seconds(pid) for pid in pids]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return [(b - a) / seconds * 1000 for a, b in zip(before, after, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    print(f"CPU ms per second, idle for {args.seconds:g} s after 20 requests ({load()})")
    print(f"  {'app':<12} {'master':>7} {'workers':>15} {'total':>7}")
    for app, config in APPS.items():
        master, *rest = idle_ms_per_s(config, args.seconds)
        each = " ".join(f"{ms:7.2f}" for ms in rest)
        print(f"  {app:<12} {master:7.2f} {each:>15} {master + sum(rest):7.2f}")
    resolution = 1000 / TICK / args.seconds
    print(f"  (/proc counts CPU in ticks of {1000 / TICK:g} ms: steps of {resolution:.2f} ms/s)")


if __name__ == "__main__":
    main()
