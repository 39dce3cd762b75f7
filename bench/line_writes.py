"""The cross-process write lock's cost on the common small line: 200 000 lines of ~400 bytes
through trackstack's writer to a pipe that another process drains, with the lock
(``serialize=True``, what a pipe gets) and without, alternating, best of 5 each. The lock is
taken in the writer thread, once per batch (PIPE_BUF), never in the request's thread: the
caller's cost per line (format + enqueue) does not change; this measures the writer's."""

from __future__ import annotations

import os
import subprocess
import time

from trackstack.writer import LineWriterHandler

LINES = 200_000
LINE = b'{"message":"' + b"x" * 384 + b'"}\n'


def run(serialize: bool) -> float:
    """Seconds the writer takes to write LINES queued lines."""
    read_end, write_end = os.pipe()
    drain = subprocess.Popen(["cat"], stdin=read_end, stdout=subprocess.DEVNULL)
    os.close(read_end)
    handler = LineWriterHandler(write_end, serialize=serialize, max_pending=LINES)
    handler._lines.extend([LINE] * LINES)  # all queued before the writer starts
    handler._queued = LINES
    started = time.perf_counter()
    handler._start_writer()
    handler.flush(timeout=120)
    elapsed = time.perf_counter() - started
    os.close(write_end)
    drain.wait()
    return elapsed


def main() -> None:
    best = {False: 1e9, True: 1e9}
    for _ in range(5):
        for serialize in (False, True):
            best[serialize] = min(best[serialize], run(serialize))
    for serialize, seconds in best.items():
        name = "with the lock" if serialize else "without the lock"
        print(f"{LINES} lines of {len(LINE)} B to a pipe, {name:<17} {seconds:6.3f} s")
    extra_ns = (best[True] - best[False]) / LINES * 1e9
    ratio = best[True] / best[False]
    print(f"with / without: {ratio:.3f} ({extra_ns:+.0f} ns per line, in the writer thread)")


if __name__ == "__main__":
    main()
