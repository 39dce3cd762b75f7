"""The envelope every answer uses: {"code", "msg", "data"}, plus "tracking_id" on errors.

Kept free of Flask so the tracking middleware and gunicorn's error writer use the same shape.
"""

from __future__ import annotations

import json
from typing import Any


def success(method: str, path: str, data: Any, status: int = 200) -> dict[str, Any]:
    return {"code": status, "msg": f"{method} {path} success", "data": data}


def failure(
    method: str, path: str, status: int, reason: str, tracking_id: str | None
) -> dict[str, Any]:
    return {
        "code": status,
        "msg": f"{method} {path} failed: {reason}",
        "data": None,
        "tracking_id": tracking_id,
    }


def to_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")
