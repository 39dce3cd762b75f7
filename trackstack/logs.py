"""One logging pipeline for every record a process writes: app, access and the server's own.

record -> filters (tracking ID and trace, per-request level gate) -> ECS formatter (redaction,
collision rule, bounded line) -> a writer thread that does one write(2) per batch of lines.

``configure_logging(settings)`` is all an application calls, once, before it serves.
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from typing import Any

from trackstack.context import trace_var, tracking_id_var
from trackstack.ecs import ConsoleFormatter, Datasets, EcsFormatter, event_ids
from trackstack.redact import Redactor
from trackstack.settings import Settings
from trackstack.writer import LineWriterHandler

# True while the current request asked for (and was allowed) DEBUG logging.
request_debug_var: ContextVar[bool] = ContextVar("trackstack_request_debug", default=False)

# The servers' loggers: their own handlers are dropped so their lines are ours too.
SERVER_LOGGERS = ("gunicorn.error", "gunicorn.access", "uvicorn", "uvicorn.error", "uvicorn.access")


class TrackingFilter(logging.Filter):
    """Adds the current tracking ID and trace to every record that does not carry its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        if "tracking_id" not in fields:
            tracking_id = tracking_id_var.get()
            if tracking_id is not None:
                fields["tracking_id"] = tracking_id
        trace = trace_var.get()
        if trace is not None:
            fields.setdefault("trace.id", trace.trace_id)
            fields.setdefault("span.id", trace.span_id)
        return True


class LevelGate(logging.Filter):
    """Drops records under ``level`` unless the current request enabled DEBUG."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or request_debug_var.get()


def build_handler(settings: Settings, fd: int = 1) -> LineWriterHandler:
    """The handler ``configure_logging`` installs, writing to ``fd``, for use elsewhere."""
    datasets = Datasets(settings.dataset_prefix)
    formatter_class = ConsoleFormatter if settings.log_format == "console" else EcsFormatter

    def identity(record: logging.LogRecord) -> dict[str, Any]:
        return {
            "service.name": settings.service_name,
            "event.dataset": datasets(str(record.name)),
            "event.id": event_ids.next(),
            "tracking_id": tracking_id_var.get(),
        }

    handler = LineWriterHandler(fd, fallback_fields=identity)
    handler.setFormatter(
        formatter_class(
            settings.service_name,
            Redactor(settings.redact_keys),
            settings.log_max_line_bytes,
            datasets,
        )
    )
    handler.addFilter(TrackingFilter())
    handler.addFilter(LevelGate(logging.getLevelName(settings.log_level)))
    return handler


def point_stdout_at(path: str) -> None:
    """Make stdout and stderr append to ``path``, (re)opened now: rename-based rotation.

    dup2 swaps what fds 1 and 2 refer to in one step; a write already under way finishes in
    the old file, every later one goes to the new file, and nothing is lost in between.
    Raises OSError if ``path`` cannot be opened.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    finally:
        os.close(fd)


def configure_logging(settings: Settings | None = None, fd: int = 1) -> LineWriterHandler:
    """Route every logger through one handler on the root logger. Safe to call again.

    ``settings`` default ``Settings.from_env()``. gunicorn's and uvicorn's loggers lose their
    own handlers and propagate here. Loggers in ``settings.debug_loggers`` make DEBUG
    records, which only a request that enabled debug lets out. Returns the handler.
    """
    settings = settings or Settings.from_env()
    if settings.log_file and fd == 1:
        point_stdout_at(settings.log_file)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    handler = build_handler(settings, fd)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        for old in list(server_logger.handlers):
            server_logger.removeHandler(old)
        server_logger.propagate = True
    # These loggers make DEBUG records; LevelGate lets them out only for a request that
    # enabled debug. Other libraries stay at the configured level and cost nothing extra.
    for name in ("trackstack", *settings.debug_loggers):
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.captureWarnings(True)
    # The logging HOWTO's "Optimization": we never write file/line, thread or
    # multiprocessing names, so don't pay to collect them on every record.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    return handler
