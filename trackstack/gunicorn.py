"""gunicorn adapter: a logger class that sends gunicorn's own lines and the access log through
trackstack's one JSON pipeline, and a gevent worker whose own answers are JSON and logged.

In a gunicorn config file::

    logger_class = "trackstack.gunicorn.JsonLogger"
    worker_class = "trackstack.gunicorn.TrackingGeventWorker"
    accesslog = "-"          # switches the access log on; lines go through the pipeline

``JsonLogger`` reads ``trackstack.Settings.from_env()``; to pass other settings, subclass it
and override ``settings_factory``.

Every response has exactly one access line, including those gunicorn sends itself for a
request it could not parse (400 invalid request line or header, 414 request line too long,
431 header fields too large, 501 unsupported transfer coding...): status, ``client.ip`` and
the tracking ID that the answer carried. Errors reading a request body (malformed chunked
encoding, a body shorter than its Content-Length) are registered as client errors, so the
Flask adapter answers them 400 with a WARNING.
"""

from __future__ import annotations

import contextvars
import logging
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from gunicorn import glogging, util
from gunicorn.http import errors as http_errors
from gunicorn.workers.ggevent import GeventWorker

from trackstack import envelope
from trackstack.context import bound, trace_var, tracking_id_var
from trackstack.errors import register_client_errors
from trackstack.ids import HEADER, new_id
from trackstack.logs import configure_logging, point_stdout_at, release, scope_fields
from trackstack.redact import Redactor
from trackstack.settings import ConfigError, Settings, exit_for
from trackstack.tracecontext import TraceContext
from trackstack.wsgi import ENVIRON_KEY, SCOPE_KEY, HttpDate

# Raised from inside the application while it reads the body: the client's fault.
BODY_ERRORS = (
    http_errors.NoMoreData,
    http_errors.InvalidChunkSize,
    http_errors.ChunkMissingTerminator,
    http_errors.InvalidChunkExtension,
)
register_client_errors(*BODY_ERRORS)


class _ErrorAnswer:
    """What the worker knows about the error answer it is sending (one per handle_error)."""

    def __init__(self, logger: JsonLogger | None, addr: Any) -> None:
        self.logger = logger
        self.addr = addr
        self.access_logged = False


_error_answer: contextvars.ContextVar[_ErrorAnswer | None] = contextvars.ContextVar(
    "trackstack_gunicorn_error_answer", default=None
)


def _status_of(resp: Any) -> int:
    code = getattr(resp, "status_code", None)  # unset on gunicorn's own error answers
    if isinstance(code, int):
        return code
    try:  # gunicorn's own error answers set only the "400 Bad Request" text
        return int(str(resp.status).split()[0])
    except (ValueError, IndexError):
        return 0


class JsonLogger(glogging.Logger):
    """gunicorn.error and gunicorn.access both go to the root handler of ``configure_logging``."""

    settings_factory: Callable[[], Settings] = staticmethod(Settings.from_env)

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)  # levels and the access-log switch; its handlers are dropped below
        # Read once here (gunicorn calls setup again on a config reload), not per request.
        try:
            self.settings = type(self).settings_factory()
        except ConfigError as exc:
            # A bad variable is the operator's to fix: one line naming it, not a traceback
            # through gunicorn's arbiter (exit status 1).
            exit_for(exc)
        self.redactor = Redactor(self.settings.redact_keys)
        configure_logging(self.settings)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True

    def reopen_files(self) -> None:
        """SIGUSR1 (master, then each worker): reopen LOG_FILE after it was renamed away."""
        super().reopen_files()
        log_file = self.settings.log_file
        if log_file:
            point_stdout_at(log_file)
            self.error_log.info("reopened %s", log_file, extra={"event.action": "log_reopened"})

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        answer = _error_answer.get()
        if answer is not None:
            answer.access_logged = True
        if not self.access_log_enabled:
            return
        try:
            self._request_access(resp, environ, request_time)
        except Exception:  # gunicorn calls this from its error path too: never raise there
            self.error_log.exception("could not write the access line")

    def _request_access(self, resp: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        # The ID the response carried: the one the caller saw, generated or not.
        tracking_id = next(
            (v for k, v in getattr(resp, "headers", ()) if k.lower() == "x-tracking-id"),
            environ.get(ENVIRON_KEY) or tracking_id_var.get(),
        )
        status = _status_of(resp)
        duration_ns = int(request_time.total_seconds() * 1e9)
        scope = environ.get(SCOPE_KEY)
        if scope is not None:  # held DEBUG records go out before the access line, or never
            release(scope, status, duration_ns)
        self._access_line(
            status,
            environ.get("REQUEST_METHOD", "-"),
            environ.get("PATH_INFO", ""),
            {
                "url.query": self.redactor.query(environ.get("QUERY_STRING", "")),
                "http.version": environ.get("SERVER_PROTOCOL", "").removeprefix("HTTP/"),
                "http.response.body.bytes": getattr(resp, "sent", 0) or 0,
                "event.duration": duration_ns,
                "client.ip": environ.get("REMOTE_ADDR"),
                "user_agent.original": environ.get("HTTP_USER_AGENT"),
                "tracking_id": tracking_id,
                **(scope_fields(scope) if scope is not None else {}),
            },
        )

    def protocol_error_access(self, status: int, client_ip: str | None, body_bytes: int) -> None:
        """The access line of an answer gunicorn sent before any request was parsed."""
        if self.access_log_enabled:
            self._access_line(
                status,
                None,
                None,
                {
                    "http.response.body.bytes": body_bytes,
                    "event.duration": 0,
                    "client.ip": client_ip,
                    "tracking_id": tracking_id_var.get(),
                },
            )

    def _access_line(
        self, status: int, method: str | None, path: str | None, fields: dict[str, Any]
    ) -> None:
        fields |= {
            "event.action": "http_request",
            "http.request.method": method,
            "url.path": path,
            "http.response.status_code": status,
        }
        access_log = self.access_log
        try:
            # What access_log.info(...) does, minus its generic steps (findCaller, which
            # configure_logging turns off anyway, and makeRecord's check of each extra key
            # against the record's own: these names are ECS ones, never a record attribute).
            # The level check, the logger's filters and handlers, propagation and the
            # handlers' filters (LevelGate: LOG_LEVELS) all still apply, in Logger.handle.
            if type(access_log).makeRecord is not logging.Logger.makeRecord:
                # A Logger class of the application's own: its makeRecord decides.
                access_log.info("%s %s %s", method or "-", path or "-", status, extra=fields)
            elif access_log.isEnabledFor(logging.INFO):
                record = logging.getLogRecordFactory()(
                    access_log.name,
                    logging.INFO,
                    "(unknown file)",
                    0,
                    "%s %s %s",
                    (method or "-", path or "-", status),
                    None,
                    "(unknown function)",
                )
                record.__dict__.update(fields)
                access_log.handle(record)
        except Exception:
            self.error_log.exception("could not write the access line")


_clock = HttpDate()


def _write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Replaces gunicorn's HTML error page, and logs the access line if gunicorn did not."""
    tracking_id = tracking_id_var.get() or new_id()
    trace = trace_var.get() or TraceContext.for_request(None)
    body = envelope.to_bytes(envelope.failure("-", "-", status_int, reason, tracking_id))
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"{HEADER}: {tracking_id}\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in trace.headers().items())
        + f"X-DateTime: {_clock.now()}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)
    answer = _error_answer.get()
    if answer is not None and not answer.access_logged and answer.logger is not None:
        answer.access_logged = True
        client_ip = answer.addr[0] if isinstance(answer.addr, tuple) and answer.addr else None
        answer.logger.protocol_error_access(status_int, client_ip, len(body))


class TrackingGeventWorker(GeventWorker):
    """gunicorn's gevent worker, with its own error answers in the envelope, carrying a
    tracking ID, and each with one access line."""

    def init_process(self) -> None:
        util.write_error = _write_json_error
        super().init_process()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # One ID for the warning, the access line and the answer to this request.
        logger = self.log if isinstance(self.log, JsonLogger) else None
        # A new trace too: the warning, the access line and the answer's traceparent share it.
        with bound(new_id(), TraceContext.for_request(None)):
            token = _error_answer.set(_ErrorAnswer(logger, addr))
            try:
                super().handle_error(req, client, addr, exc)
            finally:
                _error_answer.reset(token)
