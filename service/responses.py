"""Envelope helpers and the error handlers, together: every answer is JSON, none is HTML."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from service import envelope
from service.tracking import tracking_id_var

log = logging.getLogger(__name__)


def ok(data: Any, status: int = 200) -> tuple[Response, int]:
    return jsonify(envelope.success(request.method, request.path, data, status)), status


def error(status: int, reason: str) -> tuple[Response, int]:
    body = envelope.failure(request.method, request.path, status, reason, tracking_id_var.get())
    return jsonify(body), status


def _http_error(exc: HTTPException) -> tuple[Response, int]:
    status = exc.code or 500
    response, status = error(status, exc.name)
    if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return response, status


def _unhandled(exc: Exception) -> tuple[Response, int]:
    log.error(
        "unhandled %s on %s %s", type(exc).__name__, request.method, request.path, exc_info=exc
    )
    return error(500, "internal error")


class ResponseClock:
    """WSGI middleware: X-DateTime (ISO 8601 with offset, to the second) on every response,
    the tracking middleware's own 400s included; formatted once per second."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._second, self._text = -1, ""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        def start_with_date(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            now = int(time.time())
            if now != self._second:
                self._text = datetime.fromtimestamp(now).astimezone().isoformat()
                self._second = now
            headers.append(("X-DateTime", self._text))
            return start_response(status, headers, exc_info)

        return self.app(environ, start_with_date)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unhandled)
