"""The native stack for end-to-end tests: real Elasticsearch, real Filebeat, real service.

The session starts it with native/stack.sh (what `make native-up` runs) and stops it again
if it was not already running. If any piece cannot start, every e2e test FAILS: never skips.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from loadgen.elastic import connect
from setup.project import poll_until
from tests.helpers import SERVICE, Stack, native


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    was_running = native("stack.sh", "status").returncode == 0
    if not was_running:
        started = native("stack.sh", "up")
        if started.returncode != 0:
            pytest.fail(f"native stack did not start:\n{started.stdout}\n{started.stderr}")
    es = connect("elastic")
    poll_until(
        lambda: es.cluster.health(wait_for_status="yellow", timeout="1s"),
        60,
        "Elasticsearch health",
    )
    poll_until(lambda: requests.get(f"{SERVICE}/api/health", timeout=2).ok, 30, "the service")
    yield Stack(es)
    if not was_running:
        native("stack.sh", "down")
