"""Tests for trackstack/wsgi.py, ids.py and tracecontext.py, through the demo app (Flask
adapter): choosing, validating and resetting tracking IDs and traces."""

from __future__ import annotations

import pytest

from service import create_app
from service.config import Settings
from trackstack import TraceContext, bound, is_valid, outbound_headers
from trackstack.context import trace_var, tracking_id_var

HOSTILE = [
    pytest.param('abc", "level": "CRITICAL', id="json-fragment"),
    pytest.param("a" * 129, id="129-chars"),
    pytest.param("x" * 8192, id="8kb"),
    pytest.param("<script>alert(1)</script>", id="html"),
    pytest.param("caf\u00e9-\u4e2d\u6587", id="non-ascii"),
    pytest.param("back\\slash", id="backslash"),
    pytest.param("tab\there", id="control-tab"),
    pytest.param("", id="empty"),
    pytest.param("has space", id="space"),
]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("123456", id="digits"),
        pytest.param("0f8fad5b-d9cb-469f-a165-70867728950e", id="uuid"),
        pytest.param("4bf92f3577b34da6a3ce929d0e0e4736", id="w3c-trace-id"),
        pytest.param("a" * 128, id="128-chars"),
        pytest.param("svc.a:b_c-d", id="punctuation"),
    ],
)
def test_valid_ids_pass(value: str) -> None:
    """IDs made of the allowed characters, 1-128 long, are accepted."""
    assert is_valid(value)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_ids_fail(value: str) -> None:
    """Anything outside [A-Za-z0-9._:-]{1,128} is refused."""
    assert not is_valid(value)


def test_client_id_is_echoed_and_logged(client, log_lines) -> None:
    """A valid client ID comes back in the header and lands on the app lines."""
    response = client.get("/api/names", headers={"X-Tracking-ID": "client-123"})
    assert response.headers["X-Tracking-ID"] == "client-123"
    lines = [line for line in log_lines() if line.get("tracking_id") == "client-123"]
    assert [line["message"] for line in lines] == ["listing 5 names"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"X-Request-ID": "req-1"}, "req-1", id="request-id-fallback"),
        pytest.param({"X-Correlation-ID": "corr-1"}, "corr-1", id="correlation-id-fallback"),
        pytest.param(
            {"X-Tracking-ID": "t-1", "X-Request-ID": "r-1", "X-Correlation-ID": "c-1"},
            "t-1",
            id="tracking-id-wins",
        ),
        pytest.param(
            {"X-Request-ID": "r-1", "X-Correlation-ID": "c-1"},
            "r-1",
            id="request-before-correlation",
        ),
    ],
)
def test_header_precedence(client, headers: dict[str, str], expected: str) -> None:
    """X-Tracking-ID, then X-Request-ID, then X-Correlation-ID."""
    assert client.get("/api/health", headers=headers).headers["X-Tracking-ID"] == expected


@pytest.mark.parametrize("value", HOSTILE)
def test_replace_policy_never_echoes_or_logs_hostile_ids(client, log_lines, value: str) -> None:
    """policy=replace: a fresh UUID, a WARNING naming the reason, the raw value nowhere."""
    response = client.get("/api/names", headers={"X-Tracking-ID": value})
    new_id = response.headers["X-Tracking-ID"]
    assert new_id != value and is_valid(new_id) and len(new_id) == 36
    lines = log_lines()
    warnings = [
        line for line in lines if line.get("event", {}).get("action") == "tracking_id_refused"
    ]
    assert len(warnings) == 1 and warnings[0]["tracking_id"] == new_id
    if value:
        assert all(value not in str(line) for line in lines)
        assert value not in response.get_data(as_text=True)


def test_reject_policy_answers_400_envelope(settings, log_lines) -> None:
    """policy=reject: 400 JSON envelope with a new ID, handler never runs."""
    app = create_app(Settings(tracking_id_policy="reject"))
    response = app.test_client().get("/api/names", headers={"X-Tracking-ID": "bad id"})
    body = response.get_json()
    assert response.status_code == 400
    assert body["code"] == 400 and body["tracking_id"] == response.headers["X-Tracking-ID"]
    assert not any(line["message"].startswith("listing") for line in log_lines())


def test_ignore_policy_always_generates(log_lines) -> None:
    """policy=ignore: even a valid client ID is replaced, silently."""
    app = create_app(Settings(tracking_id_policy="ignore"))
    response = app.test_client().get("/api/health", headers={"X-Tracking-ID": "client-1"})
    assert response.headers["X-Tracking-ID"] != "client-1"
    assert not [line for line in log_lines() if line.get("log.level") == "warning"]


def test_context_is_reset_after_each_request(client) -> None:
    """Nothing of a request's ID or trace survives it (keep-alive greenlets reuse context)."""
    client.get("/api/health", headers={"X-Tracking-ID": "one"})
    assert tracking_id_var.get() is None
    assert trace_var.get() is None


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="absent"),
        pytest.param("garbage", id="garbage"),
        pytest.param("00-" + "0" * 32 + "-00f067aa0ba902b7-01", id="zero-trace-id"),
        pytest.param("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", id="version-ff"),
        pytest.param("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", id="uppercase"),
    ],
)
def test_invalid_traceparent_starts_a_new_trace(header: str | None) -> None:
    """Without a valid parent, a new 32-hex trace id and 16-hex span id are made."""
    trace = TraceContext.for_request(header)
    assert len(trace.trace_id) == 32 and len(trace.span_id) == 16
    assert trace.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736"


def test_traceparent_continues_the_callers_trace(client, log_lines) -> None:
    """A valid traceparent fills trace.id; our span is new; the response carries it."""
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response = client.get("/api/names", headers={"traceparent": parent})
    version, trace_id, span_id, flags = response.headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert span_id != "00f067aa0ba902b7"
    app_line = next(line for line in log_lines() if line["message"].startswith("listing"))
    assert app_line["trace"]["id"] == trace_id and app_line["span"]["id"] == span_id


def test_outbound_headers_carry_id_and_child_span() -> None:
    """Calls out get X-Tracking-ID and a traceparent whose span is a new child."""
    trace = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    with bound("abc", trace):
        headers, child = outbound_headers()
    assert headers["X-Tracking-ID"] == "abc"
    assert headers["traceparent"] == f"00-{trace.trace_id}-{child}-01"
    assert child != trace.span_id
