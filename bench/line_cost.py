"""CPU per access line through the service's whole logging path, with and without the
fast paths (orjson for lines whose bytes it writes as json does; the redaction pattern
skipped on ASCII text naming no secret word; the access record handed to ``Logger.handle``
directly instead of through ``Logger.info``), in one process, alternating.

``python -m bench.line_cost``: gunicorn's ``access()`` on the service's logger class (record,
filters, ECS formatter, writer thread) into /dev/null, best of 5 x 5000 calls by
``time.process_time`` (so the writer thread's CPU counts). Also, for comparison, gunicorn's
stock logger with its text access line (bare) and with the article's JSON-looking format.
"""

from __future__ import annotations

import logging
import os
import runpy
import sys
import time
import timeit
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]


class _Response:
    status = "200 OK"
    status_code = 200
    sent = 83
    headers: ClassVar = [
        ("Content-Type", "application/json"),
        ("Content-Length", "83"),
        ("X-Tracking-ID", "0b7c8d2e-1111-4222-8333-944455556666"),
        ("traceparent", "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"),
        ("X-DateTime", "2026-11-30T00:00:00+00:00"),
    ]


class _ViaLoggerInfo(logging.Logger):
    """A Logger class with its own makeRecord: JsonLogger then writes through Logger.info."""

    def makeRecord(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        return super().makeRecord(*args, **kwargs)


class _Request:
    headers: ClassVar = [("HOST", "127.0.0.1:8000"), ("USER-AGENT", "wrk")]


ENVIRON = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/api/health",
    "RAW_URI": "/api/health",
    "QUERY_STRING": "",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "HTTP_USER_AGENT": "wrk",
    "HTTP_HOST": "127.0.0.1:8000",
    "trackstack.tracking_id": "0b7c8d2e-1111-4222-8333-944455556666",
}


def cpu_us(call: Any, number: int = 5000) -> float:
    return min(timeit.repeat(call, number=number, repeat=5, timer=time.process_time)) / number * 1e6


def main() -> None:
    out = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # every logger below writes fd 1: the lines go nowhere
    sys.path.insert(0, str(ROOT))
    from gunicorn import glogging
    from gunicorn.config import Config

    from trackstack import ecs

    def logger(cls: Any, access_format: str | None = None) -> Any:
        cfg = Config()
        cfg.set("accesslog", "-")
        if access_format:
            cfg.set("access_log_format", access_format)
        return cls(cfg)

    article = runpy.run_path(str(ROOT / "bench/apps/article_gunicorn.conf.py"))
    service = runpy.run_path(str(ROOT / "service/gunicorn.conf.py"))
    loggers = {
        "bare: gunicorn's text line": logger(glogging.Logger),
        "article: gunicorn's JSON-looking line": logger(
            glogging.Logger, article["access_log_format"]
        ),
        "trackstack: ECS line": logger(service["ServiceLogger"]),
    }
    took = timedelta(microseconds=1234)
    redactor = loggers["trackstack: ECS line"].redactor
    formatter: Any = logging.getLogger().handlers[0].formatter
    formatter_redactor = formatter.redactor
    access_log = loggers["trackstack: ECS line"].access_log
    fast = (ecs._orjson_dumps, formatter_redactor._needles, type(access_log))
    reference = (None, ("",), _ViaLoggerInfo)  # "" is in every text: the pattern always runs
    best: dict[str, float] = {}
    for _ in range(3):
        for name, log in loggers.items():
            variants = (
                [("", fast)]
                if "trackstack" not in name
                else [
                    (" (fast paths off)", reference),
                    (" (fast paths on)", fast),
                    (" (on, record via Logger.info)", (*fast[:2], _ViaLoggerInfo)),
                ]
            )
            for suffix, (dumps, needles, logger_class) in variants:
                ecs._orjson_dumps, formatter_redactor._needles = dumps, needles
                redactor._needles = needles
                if "trackstack" in name:
                    access_log.__class__ = logger_class
                us = cpu_us(lambda log=log: log.access(_Response, _Request, ENVIRON, took))
                best[name + suffix] = min(best.get(name + suffix, us), us)
    ecs._orjson_dumps, formatter_redactor._needles, access_log.__class__ = fast
    load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    print(f"CPU per access line, best of 3 x 5 x 5000 ({load}):", file=out)
    for name, us in best.items():
        print(f"  {name:<48} {us:6.1f} us", file=out)
    out.flush()
    time.sleep(0.2)


if __name__ == "__main__":
    main()
