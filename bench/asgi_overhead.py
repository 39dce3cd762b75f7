"""`make bench`: /api/health requests/s of orders (FastAPI + trackstack), of bare FastAPI with
only trackstack's middleware, of bare FastAPI, and of FastAPI with asgi-correlation-id's
middleware, side by side in one run.

All run under the same uvicorn settings (uvicorn.run: 2 workers, keep-alive 5 s, output to a
file as Filebeat would read it, and orders' h11 protocol for every app: it switches Nagle off,
which uvicorn's own --workers path leaves on (uvicorn issue #3149, orders/protocol.py); with
it off every app measured the same ~710 req/s, 32 connections / 43 ms of delayed ACK); only
the app differs (bench/asgi_apps.py). wrk
drives them in rounds whose order rotates, so drift hits all alike; each ratio is the median
of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import serve
from bench.service_overhead import wrk
from setup.project import free_port

APPS = {
    "orders": "orders.main:worker_app",
    "trackstack": "bench.asgi_apps:with_trackstack",
    "bare": "bench.asgi_apps:bare",
    "correlation": "bench.asgi_apps:correlation",
}
SERVE = """
import sys, uvicorn
uvicorn.run(sys.argv[1], factory=True, host="127.0.0.1", port=int(sys.argv[2]), workers=2,
            http="orders.protocol:TrackingH11Protocol", log_config=None,
            access_log=sys.argv[3] == "1", timeout_keep_alive=5, timeout_worker_healthcheck=30)
"""


def start(name: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {"SERVICE_NAME": "trackstack-orders", "LOG_FILE": ""}
    # trackstack writes its own access line; asgi-correlation-id relies on uvicorn's.
    access = "1" if name == "correlation" else "0"
    return serve.start(
        [sys.executable, "-c", SERVE, APPS[name], str(port), access], port, log, env, 90
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    folder = Path(tempfile.mkdtemp(prefix="trackstack-bench-asgi-"))
    ports = {name: free_port() for name in APPS}
    procs = {name: start(name, port, folder / f"{name}.log") for name, port in ports.items()}
    try:
        time.sleep(5)  # the second worker of each
        for port in ports.values():
            wrk(port, "/api/health", 2, args.connections)  # warm-up
        names = list(APPS)
        rounds: list[dict[str, float]] = []
        print("round " + " ".join(f"{name[:11]:>11}" for name in names) + "   req/s")
        for n in range(args.rounds):
            order = names[n % len(names) :] + names[: n % len(names)]
            rps = {
                name: wrk(ports[name], "/api/health", args.seconds, args.connections)[0]
                for name in order
            }
            rounds.append(rps)
            print(f"{n + 1:>5} " + " ".join(f"{rps[name]:>11.0f}" for name in names))
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=30)
    lines = (folder / "orders.log").read_text().count('"trackstack.access"')
    print(f"orders wrote {lines} JSON access lines; logs in {folder}")

    def ratio(a: str, b: str) -> float:
        return statistics.median(r[a] / r[b] for r in rounds)

    print(f"median of {args.rounds} rounds, {args.connections} connections, {args.seconds} s each:")
    for a, b in (
        ("trackstack", "bare"),
        ("correlation", "bare"),
        ("trackstack", "correlation"),
        ("orders", "bare"),
        ("orders", "correlation"),
    ):
        print(f"  {a + ' / ' + b:<28} {ratio(a, b):.3f}")


if __name__ == "__main__":
    main()
