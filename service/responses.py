"""The demo's answers: the envelope ``{"code", "msg", "data"}`` (trackstack.envelope); errors
come from trackstack.flask, which also answers every HTTP error and unhandled exception."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from trackstack import envelope
from trackstack.flask import error_response


def ok(data: Any, status: int = 200) -> tuple[Response, int]:
    return jsonify(envelope.success(request.method, request.path, data, status)), status


def error(status: int, reason: str) -> tuple[Response, int]:
    return error_response(status, reason)
