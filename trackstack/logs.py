"""One logging pipeline for every record a process writes: app, access and the server's own.

record -> filters (tracking ID, trace, user; the level gate) -> ECS formatter (redaction,
collision rule, bounded line) -> a writer thread that does one write(2) per batch of lines.

``configure_logging(settings)`` is all an application calls, once, before it serves.

The level gate lets a record out when it is at ``LOG_LEVEL`` or above, at or above its
logger's ``LOG_LEVELS`` entry, or in a request that turned DEBUG on (token or sample).
Otherwise, with ``DEBUG_ON_FAILURE``, it is HELD: kept unformatted in the request's scope,
at most ``debug_held_per_request`` per request and ``debug_held_per_worker`` per process
(beyond either bound a record is counted, not kept). ``release(scope, ...)``, called by the
adapter just before the access line, writes them in order if the request failed (5xx, an
unhandled exception) or took ``DEBUG_SLOW_MS`` or longer, after one ``debug_released`` line
that says why and how many were not kept; otherwise drops them unformatted. A held record's
arguments are formatted when it is written, as ``logging.handlers.QueueHandler`` would not:
the cost stays off the requests that succeed.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from contextvars import ContextVar
from typing import Any

from trackstack.context import RequestScope, scope_var, trace_var, tracking_id_var
from trackstack.ecs import ConsoleFormatter, Datasets, EcsFormatter, event_ids
from trackstack.redact import Redactor
from trackstack.settings import ConfigError, Settings, exit_for
from trackstack.tracecontext import TraceContext
from trackstack.writer import LineWriterHandler

# Why the current request writes its DEBUG lines: "token" (X-Debug-Log with the right
# X-Debug-Token), "sampled" (DEBUG_SAMPLE_RATE); None: it does not.
request_debug_var: ContextVar[str | None] = ContextVar("trackstack_request_debug", default=None)
log = logging.getLogger("trackstack")

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
        scope = scope_var.get()
        if scope is not None and scope.user_id is not None:
            fields.setdefault("user.id", scope.user_id)
        return True


class LevelGate(logging.Filter):
    """Lets out records at ``level`` or above, at or above their logger's entry in
    ``log_levels`` ((name, LEVEL) pairs; a logger inherits its nearest named parent's), or
    in a request with DEBUG on; holds the others when the request's scope holds (module
    docstring), else drops them."""

    def __init__(
        self,
        level: int,
        log_levels: tuple[tuple[str, str], ...] = (),
        per_request: int = 200,
        per_worker: int = 5000,
    ) -> None:
        super().__init__()
        self.level = level
        self.lower = {
            name: levelno
            for name, levelno in ((n, logging.getLevelName(lv)) for n, lv in log_levels)
            if levelno < level
        }
        self._thresholds: dict[str, int] = {}
        self.per_request = per_request
        self.per_worker = per_worker
        self.held_total = 0  # records this process holds now, all requests together
        os.register_at_fork(after_in_child=self._forget_held)

    def _forget_held(self) -> None:
        self.held_total = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= self.level or request_debug_var.get() is not None:
            return True
        if self.lower and record.levelno >= self._threshold(record.name):
            return True
        scope = scope_var.get()
        if scope is not None and scope.held is not None:
            if len(scope.held) < self.per_request and self.held_total < self.per_worker:
                scope.held.append(record)
                self.held_total += 1
            else:
                scope.dropped += 1
        return False

    def _threshold(self, name: str) -> int:
        threshold = self._thresholds.get(name)
        if threshold is None:
            threshold, probe = self.level, name
            while probe:
                if probe in self.lower:
                    threshold = self.lower[probe]
                    break
                probe = probe.rpartition(".")[0]
            if len(self._thresholds) > 4096:  # logger names built from data: stay bounded
                self._thresholds.clear()
            self._thresholds[name] = threshold
        return threshold


class _Installed:
    """What ``configure_logging`` installed, for ``open_scope`` and ``release``."""

    def __init__(self, handler: LineWriterHandler, gate: LevelGate, settings: Settings) -> None:
        self.handler = handler
        self.gate = gate
        self.hold = settings.debug_on_failure
        self.slow_ns = settings.debug_slow_ms * 1_000_000


_installed: _Installed | None = None


def open_scope(tracking_id: str, trace: TraceContext | None = None) -> RequestScope:
    """A new request's scope; it holds DEBUG records if the pipeline has DEBUG_ON_FAILURE."""
    return RequestScope(tracking_id, hold=_installed is not None and _installed.hold, trace=trace)


def scope_fields(scope: RequestScope) -> dict[str, str]:
    """``trace.id``, ``span.id`` and ``user.id`` of a request, for a line written after its
    ContextVars were reset (gunicorn's access line, the ``debug_released`` line)."""
    fields = {"user.id": scope.user_id} if scope.user_id is not None else {}
    if scope.trace is not None:
        fields |= {"trace.id": scope.trace.trace_id, "span.id": scope.trace.span_id}
    return fields


def release(scope: RequestScope, status: int, duration_ns: int, failed: bool = False) -> bool:
    """End of a request, before its access line: write its held DEBUG records if it failed
    (``status`` >= 500, or ``failed``: an unhandled exception) or lasted ``DEBUG_SLOW_MS`` or
    more (``duration_ns``, nanoseconds); else drop them. True if they were written. Safe to
    call twice (the second call does nothing) and on a scope that holds nothing."""
    held, scope.held = scope.held, None
    installed = _installed
    if held is None or installed is None:
        return False
    installed.gate.held_total = max(installed.gate.held_total - len(held), 0)
    if failed or status >= 500:
        reason = "failure"
    elif installed.slow_ns and duration_ns >= installed.slow_ns:
        reason = "slow"
    else:
        return False
    if not held and not scope.dropped:
        return False
    # The bound's count only when it dropped some: "(0 not held)" read as if something had.
    message = "request %s: writing its %d held DEBUG records"
    args: tuple[object, ...] = (reason, len(held))
    if scope.dropped:
        message += " (%d more not held: over the bound)"
        args += (scope.dropped,)
    log.info(
        message,
        *args,
        extra={
            "event.action": "debug_released",
            "labels.debug_reason": reason,
            "labels.held_records": len(held),
            "labels.dropped_records": scope.dropped,
            "tracking_id": scope.tracking_id,
            **scope_fields(scope),
        },
    )
    emit = installed.handler.emit
    for record in held:
        emit(record)  # the filters ran when it was held: its ID, trace and user are on it
    return True


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
    handler.addFilter(
        LevelGate(
            logging.getLevelName(settings.log_level),
            settings.log_levels,
            settings.debug_held_per_request,
            settings.debug_held_per_worker,
        )
    )
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

    ``settings`` default ``Settings.from_env()``; a variable there with an unusable value ends
    the process as every server here does: one ECS JSON line on stderr naming it, exit status
    1 (``trackstack.settings.exit_for``), not a traceback through the server that imported
    the app. Settings passed in are the caller's: nothing is read or checked here.
    gunicorn's and uvicorn's loggers lose their
    own handlers and propagate here. Loggers in ``settings.debug_loggers`` make DEBUG
    records, which only a request that enabled debug lets out (or holds, module docstring).
    Each ``settings.log_levels`` entry sets its logger's level; lines at or above it are
    written whatever ``log_level`` says. The same call under gunicorn (``JsonLogger``) and
    uvicorn, so both apply them alike. Returns the handler.
    """
    global _installed
    if settings is None:
        try:
            settings = Settings.from_env()
        except ConfigError as exc:
            exit_for(exc)
    if settings.log_file and fd == 1:
        try:
            point_stdout_at(settings.log_file)
        except OSError as exc:  # a missing folder, no permission: the operator's to fix
            exit_for(
                ConfigError(f"LOG_FILE={settings.log_file!r} cannot be opened: {exc.strerror}")
            )
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
    for name, level in settings.log_levels:  # after: an explicit entry wins
        logging.getLogger(name).setLevel(level)
    gate = next(f for f in handler.filters if isinstance(f, LevelGate))
    _installed = _Installed(handler, gate, settings)
    logging.captureWarnings(True)
    # The logging HOWTO's "Optimization": we never write file/line, thread or
    # multiprocessing names, so don't pay to collect them on every record.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    _write_queued_lines_on_sigterm()
    return handler


def write_through() -> None:
    """The installed pipeline writes every line before the logging call returns, from now
    on (``LineWriterHandler.write_through``): for the end of a process. Does nothing if
    ``configure_logging`` was not called."""
    if _installed is not None:
        _installed.handler.write_through()


def _flush_then_terminate(signum: int, frame: object) -> None:
    """SIGTERM's default action, after the writer thread has written the queued lines."""
    if _installed is not None:
        _installed.handler.flush(2.0)
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def _write_queued_lines_on_sigterm() -> None:
    """SIGTERM's default action ends the process at once, and the lines still queued for the
    writer thread with it. uvicorn (0.29 and later) re-raises a SIGTERM it handled once its
    graceful shutdown is done, so its last lines ("Application shutdown complete.",
    "Finished server process") and an app's own shutdown lines were lost. Where SIGTERM still
    has its default action (a handler a server sets, as gunicorn's do, is left alone; and
    only in the main thread, where Python sets handlers), this writes the queued lines (at
    most 2 s) and then ends the process by the default action: the same exit status."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, _flush_then_terminate):
        signal.signal(signal.SIGTERM, _flush_then_terminate)
