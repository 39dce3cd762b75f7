"""`make bench`: requests/s of trackstack's service, the source article's design and bare Flask,
side by side in one run, on /api/health and /api/names.

All three run under the same gunicorn settings (2 gevent workers, keep-alive, access log on,
output to a file as Filebeat would read it):

* ``trackstack``: the demo service as shipped (``service/gunicorn.conf.py``): tracking ID,
  W3C trace context, debug gating, fault checks, one ECS JSON access line per request plus
  the handler's app line on /api/names;
* ``article``: ``bench/apps/article.py``, the design this project grew from: an app line and
  a JSON-looking access line on every request;
* ``bare``: plain Flask, same bodies, gunicorn's text access line only.

wrk drives each in rounds whose order rotates, so drift hits all alike. Each ratio is the
median of the per-round ratios. Load average is printed with the figures: the machine is
shared, so absolute req/s mean little; the ratios are the result. Nothing here passes or
fails on a time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import serve
from setup.project import REPO, free_port

ROOT = REPO
APPS = {
    "trackstack": "service/gunicorn.conf.py",
    "article": "bench/apps/article_gunicorn.conf.py",
    "bare": "bench/bare_gunicorn.conf.py",
}
ENDPOINTS = ("/api/health", "/api/names")
TARGETS = {"trackstack/article": 1.10, "trackstack/bare": 0.95}


def start(config: str, port: int, log: Path, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "PORT": str(port),
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
    }
    env.pop("LOG_FILE", None)
    argv = [sys.executable, "-m", "gunicorn", "-c", config]
    return serve.start(argv, port, log, env, 30, cwd=cwd)


TICK = os.sysconf("SC_CLK_TCK")


def worker_cpu(master: int) -> float:
    """CPU seconds (utime + stime, all threads) of ``master``'s workers, from /proc (proc(5))."""
    total = 0.0
    for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def wrk(port: int, path: str, seconds: int, connections: int) -> tuple[float, int]:
    """(requests/s, requests) of one wrk run."""
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
    )
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    if errors:
        raise SystemExit(f"wrk saw {errors[1]} failed responses:\n{result.stdout}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)[1])  # type: ignore[index]
    return rate, int(re.search(r"(\d+) requests in", result.stdout)[1])  # type: ignore[index]


def measure(proc: subprocess.Popen[bytes], port: int, path: str, args: Any) -> tuple[float, float]:
    """(requests/s, workers' CPU µs per request) of one wrk run against one app."""
    before = worker_cpu(proc.pid)
    rate, requests = wrk(port, path, args.seconds, args.connections)
    return rate, (worker_cpu(proc.pid) - before) / requests * 1e6


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--endpoints", nargs="+", default=list(ENDPOINTS))
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of this repository (git worktree add DIR REV): its service runs"
        " as a fourth app, 'baseline', and trackstack/baseline is printed (before/after)",
    )
    args = parser.parse_args()
    apps = dict(APPS)
    targets = dict(TARGETS)
    cwds = dict.fromkeys(APPS, ROOT)
    if args.baseline:
        apps["baseline"], cwds["baseline"] = "service/gunicorn.conf.py", args.baseline.resolve()
        targets["trackstack/baseline"] = 1.0
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    folder = Path(tempfile.mkdtemp(prefix="trackstack-bench-"))
    ports = {name: free_port() for name in apps}
    print(f"{os.cpu_count()} CPUs, {load()}; wrk -t1 -c{args.connections} -d{args.seconds}s")
    procs = {
        name: start(apps[name], ports[name], folder / f"{name}.log", cwds[name]) for name in apps
    }
    # per endpoint, per app: requests/s and workers' CPU µs per request of each round
    rps: dict[str, dict[str, list[float]]] = {p: {a: [] for a in apps} for p in args.endpoints}
    cpu: dict[str, dict[str, list[float]]] = {p: {a: [] for a in apps} for p in args.endpoints}
    try:
        for path in args.endpoints:
            for name in apps:
                wrk(ports[name], path, 2, args.connections)  # warm-up
        order = list(apps)
        print(
            f"{'round':>5} {'endpoint':<12}"
            + "".join(f"{a + ' req/s':>17}" for a in apps)
            + "".join(f"{a + ' cpu':>15}" for a in apps)
        )
        for n in range(1, args.rounds + 1):
            for path in args.endpoints:
                got = {a: measure(procs[a], ports[a], path, args) for a in order}
                order = order[1:] + order[:1]  # rotate: each app runs first in turn
                for name in apps:
                    rps[path][name].append(got[name][0])
                    cpu[path][name].append(got[name][1])
                print(
                    f"{n:>5} {path:<12}"
                    + "".join(f"{got[a][0]:>17.0f}" for a in apps)
                    + "".join(f"{got[a][1]:>12.0f} us" for a in apps)
                )
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=30)
    lines = {name: (folder / f"{name}.log").read_bytes().count(b"\n") for name in apps}
    print(f"lines written: {lines}; logs in {folder}")
    print(f"\nmedians of {args.rounds} rounds ({load()}):")
    for path in rps:
        for name in apps:
            print(
                f"  {path:<12} {name:<11} {statistics.median(rps[path][name]):>7.0f} req/s"
                f" {statistics.median(cpu[path][name]):>6.0f} CPU us/request"
            )
        for key, target in targets.items():
            other = key.split("/")[1]
            by_rate = statistics.median(
                a / b for a, b in zip(rps[path]["trackstack"], rps[path][other], strict=True)
            )
            by_cpu = statistics.median(
                b / a for a, b in zip(cpu[path]["trackstack"], cpu[path][other], strict=True)
            )
            print(
                f"  {path:<12} {key}: {by_rate:.3f} by req/s, {by_cpu:.3f} by CPU per request"
                f" (target >= {target})"
            )


if __name__ == "__main__":
    main()
