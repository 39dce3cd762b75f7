"""Per-request DEBUG logging, honoured only with the right token (DESIGN.md).

``X-Debug-Log: 1`` + ``X-Debug-Token`` equal to ``DEBUG_LOG_TOKEN`` turns DEBUG on for this
request alone; without the setting the feature is off. The token is never logged or echoed.
"""

from __future__ import annotations

import hmac
import logging

from flask import Flask, Response, after_this_request, current_app, request

from service.logs import request_debug_var
from service.redact import Redactor, shape

log = logging.getLogger(__name__)


def _wants_debug() -> bool:
    return request.headers.get("X-Debug-Log", "").strip().lower() in ("1", "true", "on")


def _before() -> None:
    if not _wants_debug():
        return
    expected: str | None = current_app.config["SETTINGS"].debug_log_token
    offered = request.headers.get("X-Debug-Token", "")
    if not expected or not hmac.compare_digest(offered.encode(), expected.encode()):
        reason = "feature off" if not expected else "missing token" if not offered else "bad token"
        log.warning(
            "debug logging refused (%s)",
            reason,
            extra={"event.action": "debug_refused", "labels.reason": reason},
        )
        return
    token = request_debug_var.set(True)

    @after_this_request
    def _mark_and_reset(response: Response) -> Response:
        response.headers["X-Debug-Log"] = "on"
        request_debug_var.reset(token)
        return response

    redactor: Redactor = current_app.extensions["trackstack.redactor"]
    body = request.get_json(silent=True) if request.is_json else None
    log.info("debug logging enabled for this request", extra={"event.action": "debug_enabled"})
    log.debug(
        "request summary",
        extra={
            "http.request.headers": redactor.headers(request.headers.items()),
            "url.query": redactor.query(request.query_string.decode("latin-1")),
            "http.request.body.shape": shape(body) if body is not None else None,
            "http.request.body.bytes": request.content_length or 0,
        },
    )


def init_app(app: Flask) -> None:
    app.before_request(_before)
