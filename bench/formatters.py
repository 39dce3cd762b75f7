"""Cost of formatting one access line: ecs-logging's StdlibFormatter vs trackstack.ecs.EcsFormatter.

Both format the same record, alternately, in one run. Printed, not asserted.
"""

from __future__ import annotations

import functools
import logging
import timeit

import ecs_logging

from trackstack.ecs import EcsFormatter
from trackstack.redact import Redactor


def access_record() -> logging.LogRecord:
    record = logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 1, "%s %s %s", ("GET", "/api/health", 200), None
    )
    record.__dict__.update(
        {
            "event.action": "http_request",
            "http.request.method": "GET",
            "url.path": "/api/health",
            "url.query": "",
            "http.response.status_code": 200,
            "http.response.body.bytes": 99,
            "event.duration": 1_234_567,
            "client.ip": "127.0.0.1",
            "user_agent.original": "wrk",
            "tracking_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        }
    )
    return record


def main() -> None:
    record = access_record()
    formatters = {
        "ecs-logging StdlibFormatter": ecs_logging.StdlibFormatter(),
        "trackstack.ecs.EcsFormatter": EcsFormatter("trackstack-service", Redactor()),
    }
    best: dict[str, float] = {}
    for _ in range(3):
        for name, formatter in formatters.items():
            seconds = min(
                timeit.repeat(functools.partial(formatter.format, record), number=5000, repeat=3)
            )
            best[name] = min(best.get(name, 1.0), seconds / 5000)
    for name, seconds in best.items():
        print(f"{name:<30} {seconds * 1e6:6.1f} us per access line")
    ratio = best["ecs-logging StdlibFormatter"] / best["trackstack.ecs.EcsFormatter"]
    print(f"ecs-logging / ours: {ratio:.1f}x")


if __name__ == "__main__":
    main()
