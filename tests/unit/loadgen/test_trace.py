"""`make trace` orders one request's lines by cause where span.id tells (loadgen/trace.py)."""

from __future__ import annotations

from typing import Any

import pytest

from loadgen import trace

FRONT, ORDERS = "trackstack-service", "trackstack-orders"


def line(ms: int, service: str, span: str | None, message: str, **fields: Any) -> dict[str, Any]:
    """One document as `make trace` gets it, stamped at 12:00:00 plus ``ms``."""
    doc = {
        "@timestamp": f"2026-11-21T12:00:{ms // 1000:02d}.{ms % 1000:03d}Z",
        "service": {"name": service},
        "message": message,
        **fields,
    }
    return doc | ({"span": {"id": span}} if span else {})


def call(ms: int, duration_ms: float, status: str = "200") -> dict[str, Any]:
    return line(
        ms,
        FRONT,
        "caller",
        f"dependency call GET 127.0.0.1:8001/api/item -> {status}",
        event={"action": "dependency_call", "duration": int(duration_ms * 1e6)},
        url={"path": "/api/item"},
    )


def access(ms: int, service: str, span: str, path: str) -> dict[str, Any]:
    return line(
        ms, service, span, f"GET {path}", event={"dataset": "trackstack.access"}, url={"path": path}
    )


LOOKING = line(100, FRONT, "caller", "looking up order 42")
CALLER_DONE = access(105, FRONT, "caller", "/api/orders/42")

CASES = [
    pytest.param(
        # Elasticsearch's order at one millisecond: the call first, then the callee's line.
        [LOOKING, call(105, 4), access(105, ORDERS, "callee", "/api/item"), CALLER_DONE],
        ["looking up order 42", "GET /api/item", "dependency call", "GET /api/orders/42"],
        1,
        id="same-millisecond-inverted",
    ),
    pytest.param(
        [LOOKING, access(104, ORDERS, "callee", "/api/item"), call(105, 4), CALLER_DONE],
        ["looking up order 42", "GET /api/item", "dependency call", "GET /api/orders/42"],
        0,
        id="already-causal",
    ),
    pytest.param(
        # Lab 3's slow dependency: the caller gave up after 5 s; the callee answered at 6 s.
        [
            LOOKING,
            line(101, ORDERS, "callee", "injected 6000 ms latency"),
            call(5101, 5000, "failed"),
            access(5103, FRONT, "caller", "/api/orders/42"),
            access(6102, ORDERS, "callee", "/api/item"),
        ],
        [
            "looking up order 42",
            "injected 6000 ms latency",
            "dependency call",
            "GET /api/orders/42",
            "GET /api/item",
        ],
        0,
        id="callee-answers-after-the-caller-gave-up",
    ),
    pytest.param(
        # No callee lines at all (connection refused): nothing to move.
        [LOOKING, call(105, 1, "failed"), CALLER_DONE],
        ["looking up order 42", "dependency call", "GET /api/orders/42"],
        0,
        id="no-callee",
    ),
    pytest.param(
        # Lines without span.id (written before trace context was logged) keep their order.
        [
            line(100, FRONT, None, "looking up order 42"),
            {k: v for k, v in call(105, 4).items() if k != "span"},
            {k: v for k, v in access(105, ORDERS, "x", "/api/item").items() if k != "span"},
        ],
        ["looking up order 42", "dependency call", "GET /api/item"],
        0,
        id="no-span-ids",
    ),
]


@pytest.mark.parametrize(("docs", "messages", "moved"), CASES)
def test_causal_order(docs: list[dict[str, Any]], messages: list[str], moved: int) -> None:
    """A callee's lines come before the dependency_call line that waited for them."""
    ordered, count = trace.causal_order(docs)
    assert [doc["message"][: len(m)] for doc, m in zip(ordered, messages, strict=True)] == messages
    assert count == moved


def test_render_says_how_it_ordered() -> None:
    """The output says the order is causal and how many lines that moved."""
    docs = [LOOKING, call(105, 4), access(105, ORDERS, "callee", "/api/item"), CALLER_DONE]
    text = trace.render("t-1", docs, 4, "Kibana: none")
    assert "order: by cause" in text and "1 line placed before a dependency call" in text
    assert text.index("GET /api/item") < text.index("dependency call GET")
