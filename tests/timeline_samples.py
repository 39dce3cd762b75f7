"""Documents of one request as `make trace` gets them from Elasticsearch (keys expanded into
objects, as Filebeat's ``expand_keys`` stores them), for the timeline's tests.

``orders_42()`` is the README's ``GET /api/orders/42`` example with its injected error: the
service's app line, the orders service's DEBUG and access lines, the dependency call, the
ERROR and the service's access line (500).
"""

from __future__ import annotations

from typing import Any

FRONT, ORDERS = "trackstack-service", "trackstack-orders"
TRACKING_ID = "24db6a8b-c58c-47fb-a110-168a05bb7943"
TRACE_ID = "a069d2dee9683c9b155dd3f5e3caea2b"
FRONT_SPAN, CALL_SPAN, ORDERS_SPAN = "1f0c9e2a7b3d4c51", "2a1b3c4d5e6f7081", "9d8c7b6a5f4e3d21"
HOSTILE = "</script><script>window.pwned=1</script>\"'><img src=x onerror=window.pwned=2> ünï©ødé ✓"


def doc(ms: int, service: str, span: str | None, message: str, **fields: Any) -> dict[str, Any]:
    """One document stamped 2026-11-21T18:44:03.000Z plus ``ms``; ``fields`` dotted names."""
    out: dict[str, Any] = {
        "@timestamp": f"2026-11-21T18:44:{3 + ms // 1000:02d}.{ms % 1000:03d}Z",
        "log": {"level": fields.pop("level", "info")},
        "message": message,
        "service": {"name": service},
        "tracking_id": TRACKING_ID,
        "trace": {"id": TRACE_ID},
    }
    if span:
        out["span"] = {"id": span}
    for name, value in fields.items():
        node = out
        *parents, leaf = name.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def access(
    ms: int, service: str, span: str, path: str, status: int, duration_ms: float
) -> dict[str, Any]:
    return doc(
        ms,
        service,
        span,
        f"GET {path} {status}",
        event__dataset="trackstack.access",
        event__duration=int(duration_ms * 1e6),
        url__path=path,
        http__request__method="GET",
        http__response__status_code=status,
    )


def call(ms: int, duration_ms: float, status: int | None = 200) -> dict[str, Any]:
    return doc(
        ms,
        FRONT,
        CALL_SPAN,
        f"dependency call GET 127.0.0.1:8001/api/item -> {status or 'failed'}",
        event__action="dependency_call",
        event__duration=int(duration_ms * 1e6),
        url__path="/api/item",
        url__domain="127.0.0.1",
        http__response__status_code=status,
    )


def error(ms: int, message: str = "simulated failure: password=[REDACTED]") -> dict[str, Any]:
    return doc(
        ms,
        FRONT,
        FRONT_SPAN,
        "unhandled RuntimeError on GET /api/orders/42",
        level="error",
        error__type="RuntimeError",
        error__message=message,
        error__stack_trace="Traceback (most recent call last):\n  ...\nRuntimeError: " + message,
    )


def orders_42() -> list[dict[str, Any]]:
    """The README's request, oldest first: 31.3 ms in all, 25.1 ms of it in the call."""
    return [
        doc(392, FRONT, FRONT_SPAN, "looking up order 42"),
        doc(396, ORDERS, ORDERS_SPAN, "item sku-42 found", level="debug"),
        access(411, ORDERS, ORDERS_SPAN, "/api/item", 200, 15.0),
        call(418, 25.117204),
        error(421),
        access(423, FRONT, FRONT_SPAN, "/api/orders/42", 500, 31.292),
    ]
