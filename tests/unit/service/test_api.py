"""Tests for service/api.py, responses.py, faults.py and trackstack.flask via Flask's client."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from service import auth, create_app
from service.config import Settings
from setup.project import poll_until
from tests.helpers import DEBUG_TOKEN

CANARY = "CANARY-9f1c2b"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/api/health", 200, id="health"),
        pytest.param("GET", "/api/users", 200, id="users"),
        pytest.param("GET", "/api/names", 200, id="names"),
        pytest.param("GET", "/api/item", 200, id="item"),
        pytest.param("GET", "/api/slow?ms=1", 200, id="slow"),
        pytest.param("GET", "/api/nope", 404, id="404"),
        pytest.param("DELETE", "/api/health", 405, id="405"),
        pytest.param("GET", "/api/error", 500, id="500"),
        pytest.param("GET", "/api/slow?ms=abc", 400, id="400-bad-ms"),
        pytest.param("GET", "/", 404, id="root-404"),
    ],
)
def test_every_answer_is_an_envelope_with_the_id(
    client, method: str, path: str, status: int
) -> None:
    """JSON envelope, X-Tracking-ID and X-DateTime on every status; never HTML."""
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.content_type == "application/json"
    body = response.get_json()
    assert body["code"] == status
    assert body["msg"].startswith(f"{method} {path.split('?')[0]} ")
    assert response.headers["X-Tracking-ID"]
    assert "T" in response.headers["X-DateTime"] and response.headers["X-DateTime"][-6] in "+-"
    if status >= 400:
        assert body["tracking_id"] == response.headers["X-Tracking-ID"]
    else:
        assert body["msg"].endswith("success")


def test_500_logs_error_fields_with_the_id(client, log_lines) -> None:
    """The catch-all handler logs error.type/message/stack_trace under the request's ID."""
    response = client.get("/api/error", headers={"X-Tracking-ID": "err-1"})
    errors = [line for line in log_lines() if line.get("log.level") == "error"]
    assert response.status_code == 500 and len(errors) == 1
    assert errors[0]["tracking_id"] == "err-1"
    assert errors[0]["error"]["type"] == "RuntimeError"
    assert "simulated failure" in errors[0]["error"]["message"]
    assert "api.py" in errors[0]["error"]["stack_trace"]


def test_huge_body_is_refused_with_413(client) -> None:
    """Bodies over MAX_BODY_BYTES get a 413 envelope, not a crash."""
    response = client.post(
        "/api/login", data=b"x" * (2 * 1024 * 1024), content_type="application/json"
    )
    assert response.status_code == 413 and response.get_json()["code"] == 413


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="broken-json"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b'{"username": "ada"}', id="missing-password"),
        pytest.param(b'{"username": 1, "password": "x"}', id="wrong-type"),
    ],
)
def test_login_rejects_bad_bodies(client, body: bytes) -> None:
    """Broken or wrong-shaped JSON gets a clear 400 envelope."""
    response = client.post("/api/login", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "username" in response.get_json()["msg"]


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_secrets_never_reach_the_logs(client, log_lines, debug: bool) -> None:
    """Canaries in headers, query, JSON body and exception text appear in no line."""
    headers = {
        "Authorization": f"Bearer {CANARY}",
        "Cookie": f"session={CANARY}",
        "X-Api-Key": CANARY,
    }
    if debug:
        headers |= {"X-Debug-Log": "1", "X-Debug-Token": DEBUG_TOKEN}
    login = client.post(
        f"/api/login?token={CANARY}", json={"username": "ada", "password": CANARY}, headers=headers
    )
    token = login.get_json()["data"]["token"]
    client.get(f"/api/error?detail=api_key={CANARY}", headers=headers)
    client.get(f"/api/names?password={CANARY}", headers=headers)
    text = str(log_lines())
    assert login.status_code == 200
    assert CANARY not in text and token not in text and DEBUG_TOKEN not in text
    assert ("request summary" in text) is debug


def test_debug_honoured_only_with_the_right_token(client, log_lines) -> None:
    """Right token: audit INFO, DEBUG lines, X-Debug-Log: on, for that request only."""
    on = client.get(
        "/api/users",
        headers={"X-Debug-Log": "1", "X-Debug-Token": DEBUG_TOKEN, "X-Tracking-ID": "dbg-1"},
    )
    after = client.get("/api/users", headers={"X-Tracking-ID": "dbg-2"})
    lines = log_lines()
    debug_ids = {line.get("tracking_id") for line in lines if line["log.level"] == "debug"}
    audit = [line for line in lines if line.get("event", {}).get("action") == "debug_enabled"]
    assert on.headers["X-Debug-Log"] == "on" and "X-Debug-Log" not in after.headers
    assert debug_ids == {"dbg-1"}
    assert len(audit) == 1 and audit[0]["log.level"] == "info"
    summary = next(line for line in lines if line["message"] == "request summary")
    assert summary["http"]["request"]["headers"]["X-Debug-Token"] == "[REDACTED]"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param(
            {"X-Debug-Log": "1", "X-Debug-Token": "wrong-token"}, "bad token", id="wrong-token"
        ),
        pytest.param({"X-Debug-Log": "1"}, "missing token", id="no-token"),
    ],
)
def test_debug_refused_without_the_token(
    client, log_lines, headers: dict[str, str], reason: str
) -> None:
    """A refused attempt logs a WARNING with the reason, writes no DEBUG, never echoes the token."""
    response = client.get("/api/users", headers=headers)
    lines = log_lines()
    assert "X-Debug-Log" not in response.headers
    assert not [line for line in lines if line["log.level"] == "debug"]
    refused = [line for line in lines if line.get("event", {}).get("action") == "debug_refused"]
    assert len(refused) == 1 and refused[0]["labels"]["reason"] == reason
    assert "wrong-token" not in str(lines)


def test_debug_feature_off_when_token_unset(log_lines) -> None:
    """DEBUG_LOG_TOKEN unset: no token can turn debug on."""
    client = create_app(Settings()).test_client()
    response = client.get("/api/users", headers={"X-Debug-Log": "1", "X-Debug-Token": ""})
    assert "X-Debug-Log" not in response.headers
    assert not [line for line in log_lines() if line["log.level"] == "debug"]


def test_fault_header_error_is_labelled(client, log_lines) -> None:
    """X-Fault: error makes a 500 and a fault_injected WARNING."""
    response = client.get("/api/names", headers={"X-Fault": "error"})
    faults = [
        line for line in log_lines() if line.get("event", {}).get("action") == "fault_injected"
    ]
    assert response.status_code == 500
    assert faults and faults[0]["labels"]["fault"] == "error"


def test_fault_latency_header(client) -> None:
    """X-Fault: latency=<ms> delays the request."""
    started = time.monotonic()
    client.get("/api/names", headers={"X-Fault": "latency=120"})
    assert time.monotonic() - started >= 0.12


@pytest.mark.parametrize(
    ("header", "faulted_here", "passed_on"),
    [
        pytest.param("error@trackstack-service", True, None, id="aimed-here"),
        pytest.param("error@trackstack-orders", False, "error@trackstack-orders", id="aimed-on"),
        pytest.param(
            "Latency=5@TrackStack-Orders", False, "latency=5@trackstack-orders", id="any-case"
        ),
        pytest.param("error", True, None, id="untargeted-stays-here"),
        pytest.param("explode@trackstack-orders", False, None, id="unknown-fault-not-passed"),
    ],
)
def test_fault_aimed_at_one_service(
    client, monkeypatch, header: str, faulted_here: bool, passed_on: str | None
) -> None:
    """X-Fault: <fault>@<service.name> faults that service only; the others pass it on."""
    sent: list[dict[str, str]] = []

    class Answer:
        status_code = 200

        def raise_for_status(self) -> None:
            pass

        def json(self) -> dict[str, object]:
            return {"data": {}}

    def fake_get(url: str, **kwargs: Any) -> Answer:
        sent.append(kwargs["headers"])
        return Answer()

    downstream = client.application.extensions["trackstack.downstream"]
    monkeypatch.setattr(downstream.session, "get", fake_get)
    response = client.get("/api/orders/7", headers={"X-Fault": header})
    assert (response.status_code == 500) is faulted_here
    if not faulted_here:
        assert sent[0].get("X-Fault") == passed_on


def test_health_is_never_faulted(log_lines) -> None:
    """Even at FAULT_ERROR_RATE=1, /api/health answers 200."""
    client = create_app(Settings(fault_error_rate=1.0)).test_client()
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/names").status_code == 500


def test_background_job_keeps_the_tracking_id(client, log_lines) -> None:
    """Job lines written after the response carry the request's tracking_id."""
    response = client.post("/api/jobs", headers={"X-Tracking-ID": "job-1"})
    assert response.status_code == 202
    done = poll_until(
        lambda: [line for line in log_lines() if line["event"].get("action") == "job_finished"],
        3,
        "the job_finished line",
        every_s=0.05,
    )
    assert done[0]["tracking_id"] == "job-1"
    steps = [line for line in log_lines() if line.get("event", {}).get("action") == "job_step"]
    assert len(steps) == response.get_json()["data"]["steps"]
    assert {line["tracking_id"] for line in steps} == {"job-1"}


def test_orders_call_fails_cleanly_when_downstream_is_down(client, log_lines) -> None:
    """A dead downstream gives a 500 envelope and a dependency_call line marked failure."""
    response = client.get("/api/orders/42", headers={"X-Tracking-ID": "ord-1"})
    calls = [
        line for line in log_lines() if line.get("event", {}).get("action") == "dependency_call"
    ]
    assert response.status_code == 500
    assert len(calls) == 1 and calls[0]["event"]["outcome"] == "failure"
    assert calls[0]["tracking_id"] == "ord-1" and calls[0]["url"]["path"] == "/api/item"


# The per-request gates (trackstack.flask's debug gate, service/faults.py, api._identify)
# return early when their header is absent and nothing is configured: each row checks the
# answer is what the full check gives, header present or not.
GATES = [
    pytest.param({}, {}, (200, [], [], [], None), id="nothing-asked"),
    pytest.param(
        {"X-Debug-Log": "1", "X-Debug-Token": DEBUG_TOKEN},
        {},
        (200, ["token"], [], [], None),
        id="debug-right-token",
    ),
    pytest.param(
        {"X-Debug-Log": " ON ", "X-Debug-Token": DEBUG_TOKEN},
        {},
        (200, ["token"], [], [], None),
        id="debug-on-spaced-upper",
    ),
    pytest.param({"X-Debug-Log": "off"}, {}, (200, [], [], [], None), id="debug-header-off"),
    pytest.param({"X-Debug-Log": ""}, {}, (200, [], [], [], None), id="debug-header-empty"),
    pytest.param(
        {"X-Debug-Log": "1"}, {}, (200, [], ["missing token"], [], None), id="debug-no-token"
    ),
    pytest.param(
        {}, {"debug_sample_rate": 1.0}, (200, ["sampled"], [], [], None), id="sampled-no-header"
    ),
    pytest.param(
        {"X-Debug-Log": "1", "X-Debug-Token": "wrong"},
        {"debug_sample_rate": 1.0},
        (200, ["sampled"], ["bad token"], [], None),
        id="sampled-after-refused",
    ),
    pytest.param({"X-Fault": "error"}, {}, (500, [], [], ["error"], None), id="fault-header"),
    pytest.param({"X-Fault": ""}, {}, (200, [], [], [], None), id="fault-header-empty"),
    pytest.param(
        {"X-Fault": "error@elsewhere"}, {}, (200, [], [], [], None), id="fault-aimed-elsewhere"
    ),
    pytest.param(
        {}, {"fault_error_rate": 1.0}, (500, [], [], ["error"], None), id="fault-rate-no-header"
    ),
    pytest.param(
        {}, {"fault_latency_ms": 1}, (200, [], [], ["latency"], None), id="fault-latency-setting"
    ),
    pytest.param({"Authorization": "Bearer {token}"}, {}, (200, [], [], [], "ada"), id="user"),
    pytest.param({"Authorization": "Basic YWRhOng="}, {}, (200, [], [], [], None), id="basic"),
    pytest.param({"Authorization": ""}, {}, (200, [], [], [], None), id="authorization-empty"),
]


@pytest.mark.parametrize(("headers", "overrides", "expected"), GATES)
def test_request_gates_with_and_without_their_header(
    settings: Settings, log_lines: Any, headers: dict[str, str], overrides: Any, expected: Any
) -> None:
    """Debug, fault and user gates give their full check's answer, header absent or not."""
    settings = dataclasses.replace(settings, **overrides)
    client = create_app(settings).test_client()
    token = auth.issue(settings.login_token_key, "ada")
    headers = {name: value.format(token=token) for name, value in headers.items()}
    response = client.get("/api/names", headers=headers)
    lines = log_lines()

    def of(action: str, label: str) -> list[str]:
        return [
            line["labels"][label] for line in lines if line.get("event", {}).get("action") == action
        ]

    names_line = [line for line in lines if line["message"] == "listing 5 names"]
    user = names_line[0].get("user", {}).get("id") if names_line else None
    assert (
        response.status_code,
        of("debug_enabled", "debug_reason"),
        of("debug_refused", "reason"),
        of("fault_injected", "fault"),
        user,
    ) == expected
