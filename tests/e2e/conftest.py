"""The native stack for end-to-end tests: real Elasticsearch, real Filebeat, real service.

The session starts it with native/stack.sh (what `make native-up` runs) and stops it again
if it was not already running. If any piece cannot start, every e2e test FAILS: never skips.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import requests

from elasticsearch import Elasticsearch
from loadgen.elastic import INDEX_PATTERN, REPO, connect
from setup.project import poll_until

T = TypeVar("T")
SERVICE = "http://127.0.0.1:8000"
ORDERS = "http://127.0.0.1:8001"


def native(*args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "native" / args[0]), *args[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@dataclass
class Stack:
    es: Elasticsearch  # as elastic: tests also look at what a reader cannot

    def docs(self, query: dict[str, Any], size: int = 1000) -> list[dict[str, Any]]:
        self.es.indices.refresh(index=INDEX_PATTERN)
        hits = self.es.search(
            index=INDEX_PATTERN, query=query, size=size, sort=["@timestamp", "log.offset"]
        )
        return [hit["_source"] | {"_id": hit["_id"]} for hit in hits["hits"]["hits"]]

    def by_id(self, tracking_id: str, field: str = "tracking_id") -> list[dict[str, Any]]:
        return self.docs({"term": {field: tracking_id}})

    def count(self, query: dict[str, Any]) -> int:
        self.es.indices.refresh(index=INDEX_PATTERN)
        return int(self.es.count(index=INDEX_PATTERN, query=query)["count"])


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
