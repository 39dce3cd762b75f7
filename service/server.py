"""gunicorn glue: a logger class that sends gunicorn's own and access lines through our one
JSON pipeline, and a gevent worker whose protocol-error answers are JSON, not HTML."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

from gunicorn import glogging, util
from gunicorn.workers.ggevent import GeventWorker

from service import envelope, tracking
from service.config import Settings
from service.logs import configure_logging, point_stdout_at
from service.redact import Redactor


class JsonLogger(glogging.Logger):
    """gunicorn.error and gunicorn.access both go to the root handler from ``configure_logging``."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)  # levels and the access-log switch; its handlers are dropped below
        # Read once here (gunicorn calls setup again on a config reload), not per request.
        self.settings = Settings.from_env()
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
        if not self.access_log_enabled:
            return
        # The ID the response carried: the one the caller saw, generated or not.
        tracking_id = next(
            (v for k, v in resp.headers if k.lower() == "x-tracking-id"),
            environ.get(tracking.ENVIRON_KEY) or tracking.tracking_id_var.get(),
        )
        status = resp.status_code if isinstance(resp.status_code, int) else 0
        fields = {
            "event.action": "http_request",
            "http.request.method": environ.get("REQUEST_METHOD", "-"),
            "url.path": environ.get("PATH_INFO", ""),
            "url.query": self.redactor.query(environ.get("QUERY_STRING", "")),
            "http.version": environ.get("SERVER_PROTOCOL", "").removeprefix("HTTP/"),
            "http.response.status_code": status,
            "http.response.body.bytes": getattr(resp, "sent", 0) or 0,
            "event.duration": int(request_time.total_seconds() * 1e9),
            "client.ip": environ.get("REMOTE_ADDR"),
            "user_agent.original": environ.get("HTTP_USER_AGENT"),
        }
        if tracking_id:
            fields["tracking_id"] = tracking_id
        try:
            self.access_log.info(
                "%s %s %s", fields["http.request.method"], fields["url.path"], status, extra=fields
            )
        except Exception:
            self.error_log.exception("could not write the access line")


def _write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Replaces gunicorn's HTML error page for requests it could not even parse."""
    tracking_id = tracking.tracking_id_var.get() or tracking.new_id()
    body = envelope.to_bytes(envelope.failure("-", "-", status_int, reason, tracking_id))
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"{tracking.HEADER}: {tracking_id}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class TrackingGeventWorker(GeventWorker):
    """gunicorn's gevent worker, with protocol errors answered in our envelope and ID."""

    def init_process(self) -> None:
        util.write_error = _write_json_error
        super().init_process()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # One ID for the warning, the access line and the answer to this unparseable request.
        with tracking.bound(tracking.new_id()):
            super().handle_error(req, client, addr, exc)
