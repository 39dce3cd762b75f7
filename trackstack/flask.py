"""Flask adapter: ``Tracking(app)`` or ``tracking.init_app(app, settings)``.

Wires, in ``init_app``: the WSGI tracking middleware (``trackstack.wsgi``) around
``app.wsgi_app``, per-request DEBUG (``X-Debug-Log`` + ``X-Debug-Token``, or a
``DEBUG_SAMPLE_RATE`` sample; see ``trackstack.debug``), and, unless
``envelope_errors=False``, error handlers that answer every HTTP error and unhandled
exception with the JSON envelope ``{"code", "msg", "data": null, "tracking_id"}`` (never
HTML). A client that sends a broken body (``errors.is_client_error``, werkzeug's
ClientDisconnected) gets a 400 and a WARNING.

Logging is configured separately and first: ``trackstack.configure_logging(settings)``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, after_this_request, current_app, jsonify, request
from werkzeug.exceptions import ClientDisconnected, HTTPException

from trackstack import envelope
from trackstack.context import current_tracking_id
from trackstack.debug import REQUEST_HEADER, TOKEN_HEADER, decide, sampled, wants_debug
from trackstack.errors import is_client_error
from trackstack.logs import request_debug_var
from trackstack.redact import Redactor, shape
from trackstack.settings import Settings
from trackstack.wsgi import RejectBody, TrackingMiddleware, envelope_reject_body

log = logging.getLogger("trackstack.flask")
# Where PEP 3333 puts the X-Debug-Log request header in the environ.
_DEBUG_ENVIRON_KEY = "HTTP_" + REQUEST_HEADER.upper().replace("-", "_")
EXTENSION = "trackstack"


def error_response(status: int, reason: str) -> tuple[Response, int]:
    """The envelope for an error of this request, with its tracking ID."""
    body = envelope.failure(request.method, request.path, status, reason, current_tracking_id())
    return jsonify(body), status


class Tracking:
    """The Flask extension. ``app.extensions["trackstack"]`` is this object once wired."""

    def __init__(
        self,
        app: Flask | None = None,
        settings: Settings | None = None,
        *,
        envelope_errors: bool = True,
        reject_body: RejectBody = envelope_reject_body,
    ) -> None:
        self.settings = settings
        self.envelope_errors = envelope_errors
        self.reject_body = reject_body
        if app is not None:
            self.init_app(app, settings)

    def init_app(self, app: Flask, settings: Settings | None = None) -> None:
        settings = settings or self.settings or Settings.from_env()
        self.settings = settings
        self.redactor = Redactor(settings.redact_keys)
        app.extensions[EXTENSION] = self
        app.wsgi_app = TrackingMiddleware(  # type: ignore[method-assign]
            app.wsgi_app, settings.tracking_id_policy, self.reject_body
        )
        app.before_request(self._debug_before)
        if self.envelope_errors:
            app.register_error_handler(HTTPException, _http_error)
            app.register_error_handler(Exception, _unhandled)

    def _debug_before(self) -> None:
        assert self.settings is not None
        # Most requests neither ask (no X-Debug-Log header) nor can be sampled (rate 0): one
        # environ lookup, where werkzeug's headers view would look the name up twice.
        if self.settings.debug_sample_rate <= 0 and _DEBUG_ENVIRON_KEY not in request.environ:
            return
        why = None
        if wants_debug(request.headers.get(REQUEST_HEADER)):
            refused = decide(request.headers.get(TOKEN_HEADER), self.settings.debug_log_token)
            if refused is None:
                why = "token"
            else:
                log.warning(
                    "debug logging refused (%s)",
                    refused,
                    extra={"event.action": "debug_refused", "labels.reason": refused},
                )
        if why is None and sampled(self.settings.debug_sample_rate):
            why = "sampled"
        if why is None:
            return
        token = request_debug_var.set(why)

        @after_this_request
        def _mark_and_reset(response: Response) -> Response:
            if why == "token":  # the caller asked; a sampled request's caller did not
                response.headers[REQUEST_HEADER] = "on"
            request_debug_var.reset(token)
            return response

        body = request.get_json(silent=True) if request.is_json else None
        log.info(
            "debug logging enabled for this request (%s)",
            why,
            extra={"event.action": "debug_enabled", "labels.debug_reason": why},
        )
        log.debug(
            "request summary",
            extra={
                "http.request.headers": self.redactor.headers(request.headers.items()),
                "url.query": self.redactor.query(request.query_string.decode("latin-1")),
                "http.request.body.shape": shape(body) if body is not None else None,
                "http.request.body.bytes": request.content_length or 0,
            },
        )


def _client_body_error(exc: BaseException) -> tuple[Response, int]:
    log.warning(
        "client sent a broken request body (%s) on %s %s",
        type(exc).__name__,
        request.method,
        request.path,
        extra={"event.action": "client_body_error", "error.type": type(exc).__name__},
    )
    return error_response(400, "broken request body")


def _http_error(exc: HTTPException) -> tuple[Response, int]:
    if isinstance(exc, ClientDisconnected):
        return _client_body_error(exc)
    response, status = error_response(exc.code or 500, exc.name)
    valid_methods: Any = getattr(exc, "valid_methods", None)
    if exc.code == 405 and valid_methods:
        response.headers["Allow"] = ", ".join(valid_methods)
    return response, status


def _unhandled(exc: Exception) -> tuple[Response, int]:
    if is_client_error(exc):
        return _client_body_error(exc)
    log.error(
        "unhandled %s on %s %s", type(exc).__name__, request.method, request.path, exc_info=exc
    )
    return error_response(500, "internal error")


def settings_of(app: Flask | None = None) -> Settings:
    """The trackstack Settings an app was wired with (default: the current app)."""
    extension: Tracking = (app or current_app).extensions[EXTENSION]
    assert extension.settings is not None
    return extension.settings
