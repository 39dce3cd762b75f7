"""One logging pipeline for every record the service writes: app, access and gunicorn's own.

record -> filters (tracking ID, per-request level gate) -> ECS formatter (ecs-logging, plus
our fields, redaction, a bounded line size) -> a writer thread that does one write(2) per line.

Why a writer thread: under gevent a blocking write to a full stdout pipe would stall every
greenlet of the worker. Greenlets only queue bytes; a real OS thread waits on the pipe.
Why a bounded line: writes of at most PIPE_BUF bytes to a pipe are atomic, so two workers'
lines never interleave, whatever their size was before bounding.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import os
import secrets
import sys
import time
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from service.config import Settings
from service.redact import Redactor
from service.tracking import TrackingFilter

APP, ACCESS, SERVER = "trackstack.app", "trackstack.access", "trackstack.server"
TRUNCATED = "…[truncated]…"

# True while the current request asked for (and was allowed) DEBUG logging.
request_debug_var: ContextVar[bool] = ContextVar("request_debug", default=False)


def dataset_for(logger_name: str) -> str:
    if logger_name == "gunicorn.access":
        return ACCESS
    if logger_name.startswith("gunicorn"):
        return SERVER
    return APP


class _EventIds:
    """Unique, cheap ``event.id`` values: a random per-process prefix and a counter."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}-{next(self._counter):x}"


event_ids = _EventIds()


# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}
ECS_VERSION = "8.11.0"


class EcsFormatter(logging.Formatter):
    """LogRecord -> one ECS JSON object, with redaction and a size bound.

    Hand-written rather than ecs-logging's StdlibFormatter: `make bench` measures both on the
    same access record (ecs-logging ~54 us/line vs ~7 us here on the 2-core box), and the
    access line is written for every request. Field names follow ECS, as ecs-logging's do.
    """

    def __init__(self, service_name: str, redactor: Redactor, max_line_bytes: int = 4096) -> None:
        super().__init__()
        self.service_name = service_name
        self.redactor = redactor
        self.max_line_bytes = max_line_bytes
        self._second = -1
        self._second_text = ""

    def _timestamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # strftime once per second, not once per line
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int((created - second) * 1000):03d}Z"

    def format_to_ecs(self, record: logging.LogRecord) -> dict[str, Any]:
        """The record as ECS fields with dotted keys ("event.dataset"); Filebeat's ndjson
        parser (expand_keys) turns them into objects, so building nested dicts here per
        line would be wasted work."""
        doc: dict[str, Any] = {
            "@timestamp": self._timestamp(record.created),
            "log.level": record.levelname.lower(),
            "message": self.redactor.text(record.getMessage()),
            "ecs.version": ECS_VERSION,
            "service.name": self.service_name,
            "event.dataset": dataset_for(record.name),
            "event.id": event_ids.next(),
            "log.logger": record.name,
            "process.pid": record.process,
        }
        fields = record.__dict__
        for key in fields.keys() - _RECORD_FIELDS:
            value = fields[key]
            if value is not None:
                doc[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            exc_type, exc, tb = record.exc_info
            doc["error.type"] = exc_type.__name__ if exc_type else type(exc).__name__
            doc["error.message"] = self.redactor.text(str(exc))
            doc["error.stack_trace"] = self.redactor.text(
                "".join(traceback.format_exception(exc_type, exc, tb))
            )
        return doc

    def format(self, record: logging.LogRecord) -> str:
        return bounded_json(self.format_to_ecs(record), self.max_line_bytes - 1)


_dump = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=repr).encode


def _json_size(value: str) -> int:
    return len(_dump(value)) - 2  # without the quotes


def _longest_string(doc: dict[str, Any]) -> tuple[dict[str, Any], str, int] | None:
    """The string that takes the most bytes in the line: (its dict, its key, its size)."""
    best: tuple[dict[str, Any], str, int] | None = None
    stack = [doc]
    while stack:
        node = stack.pop()
        for key, value in node.items():
            if isinstance(value, dict):
                stack.append(value)
            elif isinstance(value, str) and (best is None or len(value) * 12 > best[2]):
                size = _json_size(value)  # a character is 1-12 bytes once escaped
                if best is None or size > best[2]:
                    best = (node, key, size)
    return best


def _escaped_size(char: str) -> int:
    """Bytes one character takes in our JSON (ensure_ascii): printable ASCII 1, a quote or
    backslash 2, \\n and friends 2, anything else \\uXXXX: 6, a surrogate pair 12."""
    if " " <= char <= "~":
        return 2 if char in '"\\' else 1
    if char in "\n\r\t\b\f":
        return 2
    return 12 if ord(char) > 0xFFFF else 6


def _cut_middle(value: str, size: int, drop: int) -> str:
    """``value`` (``size`` bytes as JSON) without ``drop`` bytes from its middle, counted on
    the escaped form so that a string of emoji or quotes is not cut more than it must be.
    A third of what stays comes from the head, the rest from the tail."""
    keep = max(size - drop, 0)
    head = used = 0
    while head < len(value) and used + _escaped_size(value[head]) <= keep // 3:
        used += _escaped_size(value[head])
        head += 1
    tail = len(value)
    while tail > head and used + _escaped_size(value[tail - 1]) <= keep:
        used += _escaped_size(value[tail - 1])
        tail -= 1
    return value[:head] + TRUNCATED + value[tail:]


_TRUNCATED_SIZE = _json_size(TRUNCATED)
# What the stand-in for a record that cannot be bounded keeps: enough to find it by request.
_IDENTITY = ("tracking_id", "trace.id", "span.id", "log.logger")


def bounded_json(doc: dict[str, Any], limit: int) -> str:
    """Serialize ``doc`` in at most ``limit`` bytes by cutting its longest strings in the middle.

    The head and the tail survive: a stack trace keeps where it started and where it failed.
    """
    line = _dump(doc)
    for _ in range(12):
        if len(line) <= limit:  # ensure_ascii: characters are bytes
            return line
        longest = _longest_string(doc)
        if longest is None:
            break
        node, key, size = longest
        node[key] = _cut_middle(node[key], size, len(line) - limit + _TRUNCATED_SIZE)
        line = _dump(doc)
    if len(line) <= limit:
        return line
    stand_in = {
        "@timestamp": doc.get("@timestamp"),
        "log.level": "error",
        "message": "log record too large to write; dropped its fields",
        "service.name": doc.get("service.name"),
        "event.dataset": doc.get("event.dataset"),
        "event.id": doc.get("event.id"),
    }
    stand_in |= {
        key: doc[key] for key in _IDENTITY if isinstance(doc.get(key), str) and len(doc[key]) <= 256
    }
    return _dump(stand_in)[:limit]


class ConsoleFormatter(EcsFormatter):
    """The same fields as the JSON line, laid out for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        flat = self.format_to_ecs(record)
        head = "{} {:<7} {} [{}] {}".format(
            flat.pop("@timestamp", ""),
            str(flat.pop("log.level", "")).upper(),
            flat.pop("event.dataset", ""),
            flat.pop("tracking_id", "-"),
            flat.pop("message", ""),
        )
        stack = flat.pop("error.stack_trace", None)
        rest = " ".join(f"{k}={json.dumps(v, ensure_ascii=True)}" for k, v in sorted(flat.items()))
        return f"{head}  {rest}" + (f"\n{stack}" if stack else "")


class LevelGate(logging.Filter):
    """Drops records under the configured level unless this request enabled DEBUG."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or request_debug_var.get()


class LineWriterHandler(logging.Handler):
    """Formats in the caller's context; a writer thread does the (possibly blocking) write.

    The writer polls a deque every ``poll_s`` instead of being woken per line: one GIL
    hand-off per batch, not per request.
    """

    def __init__(
        self, fd: int = 1, max_pending: int = 10_000, batch_bytes: int = 4096, poll_s: float = 0.01
    ) -> None:
        super().__init__()
        self.fd = fd
        self.max_pending = max_pending
        self.batch_bytes = batch_bytes
        self.poll_s = poll_s
        self._start_fresh()
        os.register_at_fork(before=self.flush, after_in_child=self._start_fresh)

    def _start_fresh(self) -> None:
        self._lines: collections.deque[bytes] = collections.deque()
        self._queued = 0
        self._written = 0
        self._writer_started = False

    def _start_writer(self) -> None:
        from gevent.monkey import get_original  # a real OS thread, even in a gevent worker

        start_new_thread = get_original("_thread", "start_new_thread")
        self._sleep = get_original("time", "sleep")
        start_new_thread(self._write_forever, ())
        self._writer_started = True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record).encode("utf-8", "replace") + b"\n"
        except Exception:
            self.handleError(record)
            return
        if not self._writer_started:
            self._start_writer()
        self._queued += 1
        self._lines.append(line)
        # Backpressure without blocking the hub: time.sleep yields in a gevent worker.
        while self._queued - self._written > self.max_pending:
            time.sleep(0.001)

    def _write_forever(self) -> None:
        lines = self._lines
        while True:
            if not lines:
                self._sleep(self.poll_s)
                continue
            # One write(2) of at most batch_bytes (PIPE_BUF): atomic on a pipe.
            batch = [lines.popleft()]
            size = len(batch[0])
            while lines and size + len(lines[0]) <= self.batch_bytes:
                line = lines.popleft()
                batch.append(line)
                size += len(line)
            self._write(b"".join(batch))
            self._written += len(batch)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except InterruptedError:
                continue
            except OSError:
                return  # stdout is gone (reader died); nothing sensible left to do

    def flush(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self._written < self._queued and time.monotonic() < deadline:
            time.sleep(0.002)

    def handleError(self, record: logging.LogRecord) -> None:
        # A record that cannot be formatted still becomes one JSON line, never a traceback.
        exc = sys.exc_info()[1]
        fallback = {
            "@timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "log.level": "error",
            "message": "log record could not be formatted",
            "error.type": type(exc).__name__ if exc else None,
            "log.logger": record.name,
            "event.dataset": dataset_for(record.name),
            "event.id": event_ids.next(),
        }
        self._write(json.dumps(fallback, ensure_ascii=True).encode() + b"\n")


def build_handler(settings: Settings, fd: int = 1) -> logging.Handler:
    redactor = Redactor(settings.redact_keys)
    formatter_class = ConsoleFormatter if settings.log_format == "console" else EcsFormatter
    handler = LineWriterHandler(fd)
    handler.setFormatter(
        formatter_class(settings.service_name, redactor, settings.log_max_line_bytes)
    )
    handler.addFilter(TrackingFilter())
    handler.addFilter(LevelGate(logging.getLevelName(settings.log_level)))
    return handler


def point_stdout_at(path: str) -> None:
    """Make stdout and stderr append to ``path``, (re)opened now: rename-based rotation.

    dup2 swaps what fds 1 and 2 refer to in one step; a write already under way finishes in
    the old file, every later one goes to the new file, and nothing is lost in between.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    finally:
        os.close(fd)


def configure_logging(settings: Settings, fd: int = 1) -> logging.Handler:
    """Route every logger through one handler on the root logger. Safe to call again."""
    if settings.log_file and fd == 1:
        point_stdout_at(settings.log_file)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    handler = build_handler(settings, fd)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # Our own loggers always make DEBUG records; LevelGate lets them out only for a request
    # that enabled debug. Libraries stay at the configured level and cost nothing extra.
    logging.getLogger("service").setLevel(logging.DEBUG)
    logging.captureWarnings(True)
    # The logging HOWTO's "Optimization": we never write file/line, thread or
    # multiprocessing names, so don't pay to collect them on every record.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    return handler
