"""Fuzzing orders with schemathesis against the OpenAPI schema FastAPI generates for it, on a
real server (``python -m orders``, one worker): valid and invalid inputs for every operation.
Whatever the client sends: no 5xx (except /api/error, whose 500 is its purpose), and every
answer is the JSON envelope with an X-Tracking-ID that its code matches.

Bounded (``MAX_EXAMPLES`` per operation and mode) so that it runs in `make test` in well under
a minute; ``FUZZ_EXAMPLES=500 pytest tests/server/test_orders_fuzz.py`` digs deeper.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation import GenerationMode

from orders import create_app
from orders.config import Settings
from setup.project import REPO

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))

schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES
)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("fuzz") / "orders.ndjson"
    env = os.environ | {
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "DB_LATENCY_MS": "1",
        "FAULT_LATENCY_MS": "0",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "orders"], cwd=REPO, env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{url}/api/health", timeout=2)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                _stop(process)
                pytest.fail("orders did not start")
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=30)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_any_input_gets_the_envelope_and_no_server_error(case: Any, base_url: str) -> None:
    """Generated (valid and invalid) requests: < 500, JSON envelope, X-Tracking-ID echoed."""
    # A generated /api/slow?ms would make the server wait on purpose.
    if case.query and "ms" in case.query:
        case.query["ms"] = "1"
    response = case.call(base_url=base_url, timeout=15)
    headers = {name.lower(): _first(value) for name, value in response.headers.items()}
    what = f"{case.method} {case.formatted_path} -> {response.status_code} {response.headers}"
    listed = {method.upper() for method in schema.raw_schema["paths"][case.path]}
    if case.method.upper() not in listed:
        # schemathesis' coverage phase also sends methods the schema does not list (TRACE...)
        assert response.status_code == 405, what
    elif case.path == "/api/error":
        assert response.status_code == 500, what
    else:
        assert response.status_code < 500, response.text[:300]
    assert headers.get("content-type") == "application/json", what
    body = response.json()
    assert {"code", "msg", "data"} <= body.keys()
    assert body["code"] == response.status_code
    tracking_id = headers["x-tracking-id"]
    if response.status_code >= 400:
        assert body["tracking_id"] == tracking_id
    assert "traceparent" in headers and "x-datetime" in headers, what


def _first(value: Any) -> str:
    """schemathesis gives each header as a list of its values."""
    return str(value[0]) if isinstance(value, list) else str(value)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM first: a SIGKILLed uvicorn manager leaves its workers running, orphaned."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
