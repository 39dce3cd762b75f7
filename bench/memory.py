"""RSS of each service worker after 1,000 and after 100,000 requests: does it grow?

``python -m bench.memory``: starts the service as `make bench` does (2 gevent workers, lines
to a file), sends requests with wrk (a Lua script rotates /api/health, /api/names,
/api/item?sku=<n>, an unknown path (404), each with a new X-Tracking-ID, so per-request
values never repeat), and reads each worker's VmRSS from ``/proc/<pid>/status`` at each
checkpoint. Prints the RSS table and the ratio RSS(last) / RSS(first) per worker; the
target (issue 14) is within 10 %. Prints, decides nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from pathlib import Path

from bench.service_overhead import APPS, load, start
from setup.project import free_port

LUA = """
counter = 0
request = function()
  counter = counter + 1
  local paths = {"/api/health", "/api/names", "/api/item?sku=s" .. counter, "/api/nope"}
  return wrk.format("GET", paths[counter % 4 + 1], {["X-Tracking-ID"] = "mem-" .. counter})
end
"""


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1])  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="trackstack-memory-"))
    script = folder / "rotate.lua"
    script.write_text(LUA)
    port = free_port()
    proc = start(APPS["trackstack"], port, folder / "service.log")
    workers = [
        int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    ]
    url = f"http://127.0.0.1:{port}"
    sent = 0
    rows: list[tuple[int, list[int]]] = []
    try:
        for checkpoint in args.checkpoints:
            while sent < checkpoint:
                # about 1,000 req/s here: size each run to land near the checkpoint
                seconds = max(1, min(20, (checkpoint - sent) // 1000))
                result = subprocess.run(
                    [
                        *("wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s"),
                        "-s",
                        str(script),
                        url,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                sent += int(re.search(r"(\d+) requests in", result.stdout)[1])  # type: ignore[index]
            rows.append((sent, [rss_kib(pid) for pid in workers]))
            print(
                f"after {sent:>7} requests: RSS "
                + ", ".join(f"{k / 1024:.1f} MiB" for k in rows[-1][1]),
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        (folder / "service.log").unlink(missing_ok=True)
    first, last = rows[0], rows[-1]
    for n, pid in enumerate(workers):
        ratio = last[1][n] / first[1][n]
        print(
            f"worker {pid}: RSS after {last[0]} / after {first[0]} requests = {ratio:.3f}"
            " (target <= 1.10)"
        )
    print(f"({os.cpu_count()} CPUs, {load()})")


if __name__ == "__main__":
    main()
