"""The source article's design, rebuilt for `make bench` from its description (issue 14).

What it does per request, and nothing more:

* a ``before_request`` hook sets ``g.tracking_id`` from ``X-Tracking-ID`` or ``uuid4()``;
* an ``after_request`` hook copies it to the response's ``X-Tracking-ID`` header;
* a ``Response`` subclass ``json.dumps`` the ``{"code", "msg", "data"}`` envelope and adds
  ``X-DateTime``;
* an ``app`` logger with a ``StreamHandler`` to stdout whose formatter ``json.dumps``
  ``@timestamp`` (``formatTime``), level, logger name, tracking_id (a filter reading ``g``),
  ``file:line``, function name and message;
* ``/api/health`` logs "Health check" at INFO; ``/api/names`` logs one line too.

Served by gunicorn's stock gevent worker with a JSON-looking ``access_log_format``
(``article_gunicorn.conf.py``): two lines per request, the app line and the access line.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from datetime import datetime
from typing import Any

from flask import Flask, Response, g, has_app_context, request

NAMES = ["alpha", "bravo", "charlie", "delta", "echo"]


class TrackingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.tracking_id = g.get("tracking_id", "-") if has_app_context() else "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "@timestamp": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "tracking_id": getattr(record, "tracking_id", "-"),
                "file": f"{record.filename}:{record.lineno}",
                "function": record.funcName,
                "message": record.getMessage(),
            }
        )


class EnvelopeResponse(Response):
    """``EnvelopeResponse(data, code, msg)``: the JSON envelope with an ``X-DateTime``."""

    def __init__(self, data: Any = None, code: int = 200, msg: str = "success") -> None:
        body = json.dumps({"code": code, "msg": msg, "data": data})
        super().__init__(body, status=code, mimetype="application/json")
        self.headers["X-DateTime"] = datetime.now().astimezone().isoformat()


def create_app() -> Flask:
    app = Flask(__name__)
    logger = logging.getLogger("app")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TrackingFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    @app.before_request
    def set_tracking_id() -> None:
        g.tracking_id = request.headers.get("X-Tracking-ID") or str(uuid.uuid4())

    @app.after_request
    def add_tracking_id(response: Response) -> Response:
        response.headers["X-Tracking-ID"] = g.tracking_id
        return response

    @app.get("/api/health")
    def health() -> Response:
        logger.info("Health check")
        data = {"status": "ok", "service": "trackstack-service"}
        return EnvelopeResponse(data, 200, "GET /api/health success")

    @app.get("/api/names")
    def names() -> Response:
        logger.info("listing %d names", len(NAMES))
        return EnvelopeResponse(NAMES, 200, "GET /api/names success")

    return app
