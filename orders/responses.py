"""The envelope ``{"code", "msg", "data"}`` (trackstack.envelope) as Starlette responses; errors
add the request's ``tracking_id``, as the Flask service's do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from trackstack import current_tracking_id, envelope


def _json(body: dict[str, Any], status: int, headers: Mapping[str, str] | None = None) -> Response:
    return Response(envelope.to_bytes(body), status, headers, media_type="application/json")


def ok(request: Request, data: Any, status: int = 200) -> Response:
    return _json(envelope.success(request.method, request.url.path, data, status), status)


def error(
    request: Request, status: int, reason: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = envelope.failure(request.method, request.url.path, status, reason, current_tracking_id())
    return _json(body, status, headers)
