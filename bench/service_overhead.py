"""`make bench`: /api/health requests/s of the service vs a bare Flask app, side by side.

Both run under the same gunicorn settings (2 gevent workers, access log on, output to a file
like Filebeat would read). wrk drives each in alternating rounds so drift hits both alike;
the ratio is the median of the per-round ratios. Target: >= 0.95.
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

from bench import serve
from setup.project import free_port


def start(config: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "PORT": str(port),
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
    }
    return serve.start([sys.executable, "-m", "gunicorn", "-c", config], port, log, env, 20)


def wrk(port: int, seconds: int, connections: int) -> float:
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}/api/health"],
        capture_output=True,
        text=True,
        check=True,
    )
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    if errors:
        raise SystemExit(f"wrk saw {errors[1]} failed responses:\n{result.stdout}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)[1])  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: `make install-bench` (apt-get install wrk)")
    folder = Path(tempfile.mkdtemp(prefix="trackstack-bench-"))
    servers = {
        "service": ("service/gunicorn.conf.py", free_port()),
        "bare": ("bench/bare_gunicorn.conf.py", free_port()),
    }
    procs = {
        name: start(cfg, port, folder / f"{name}.log") for name, (cfg, port) in servers.items()
    }
    try:
        for _, port in servers.values():
            wrk(port, 2, args.connections)  # warm-up
        ratios = []
        print(f"{'round':>5} {'service req/s':>14} {'bare req/s':>11} {'ratio':>6}")
        for n in range(1, args.rounds + 1):
            order = list(servers) if n % 2 else list(reversed(servers))
            rps = {name: wrk(servers[name][1], args.seconds, args.connections) for name in order}
            ratios.append(rps["service"] / rps["bare"])
            print(f"{n:>5} {rps['service']:>14.0f} {rps['bare']:>11.0f} {ratios[-1]:>6.3f}")
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=30)
    service_lines = (folder / "service.log").read_text().count("trackstack.access")
    print(f"service wrote {service_lines} JSON access lines; logs in {folder}")
    median = statistics.median(ratios)
    print(f"ratio service/bare (median of {args.rounds}): {median:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
