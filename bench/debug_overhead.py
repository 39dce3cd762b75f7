"""Failure-triggered debug's cost on a request that succeeds: the service's WSGI call for
/api/users (one DEBUG record held, then dropped; the step line written) with
DEBUG_ON_FAILURE off and on, in one process, no server, lines written to /dev/null by the
real pipeline. CPU time of the calling thread (``time.thread_time``: the writer thread and
other processes on a busy machine are left out), best of 15 rounds x 3 x 500 calls each,
alternating. Prints the ratio on/off (target: within 3 %, docs/PERFORMANCE.md)."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
import timeit

from bench.wsgi_overhead import ENVIRON, call
from service import create_app
from service.config import Settings
from trackstack import configure_logging

PATH = "/api/users"


def main() -> None:
    base = Settings(service_name="bench", db_latency_ms=0)
    variants = {
        "DEBUG_ON_FAILURE off": base,
        "DEBUG_ON_FAILURE on": dataclasses.replace(base, debug_on_failure=True),
    }
    apps = {name: create_app(settings) for name, settings in variants.items()}
    ENVIRON["PATH_INFO"] = PATH
    sink = os.open(os.devnull, os.O_WRONLY)
    best: dict[str, float] = {}
    for _ in range(15):
        for name, app in apps.items():
            handler = configure_logging(variants[name].tracking(), fd=sink)
            timer = timeit.Timer(functools.partial(call, app), timer=time.thread_time)
            seconds = min(timer.repeat(number=500, repeat=3)) / 500
            handler.flush()
            logging.getLogger().removeHandler(handler)
            best[name] = min(best.get(name, 1.0), seconds)
    for name, seconds in best.items():
        print(f"GET {PATH}, {name:<22} {seconds * 1e6:6.1f} us per request")
    off, on = best["DEBUG_ON_FAILURE off"], best["DEBUG_ON_FAILURE on"]
    print(f"failure-triggered debug on / off: {on / off:.3f} ({(on / off - 1) * 100:+.1f} %)")


if __name__ == "__main__":
    main()
