"""What tests share besides fixtures: tests import these from here, never from another test
module or a conftest (fixtures stay in the conftest.py files, which use these too)."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loadgen.manifest import Record
from trackstack import Settings, configure_logging

DEBUG_TOKEN = "let-me-debug-0123456789"
Lines = Callable[[], list[dict[str, Any]]]


def expand_dotted(line: dict[str, Any]) -> dict[str, Any]:
    """A line as Elasticsearch stores it (Filebeat expand_keys): {"a.b": 1} -> {"a": {"b": 1}}."""
    out: dict[str, Any] = {}
    for key, value in line.items():
        *parents, leaf = key.split(".") if key != "@timestamp" else [key]
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf].update(value)
        else:
            node[leaf] = value
    return out


def parse_line(raw: str | bytes) -> dict[str, Any]:
    """One output line, which must be one JSON object; both as written and expanded."""
    value = json.loads(raw)
    assert isinstance(value, dict), f"not a JSON object: {raw[:200]!r}"
    return expand_dotted(value) | value


@contextmanager
def captured_lines(path: Path, settings: Settings) -> Iterator[Lines]:
    """Logging configured by trackstack into ``path``; yields a function returning every line
    written so far, each parsed as one JSON object. Undone on exit."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    handler = configure_logging(settings, fd=fd)

    def read() -> list[dict[str, Any]]:
        handler.flush()
        return [parse_line(line) for line in path.read_text().splitlines()]

    try:
        yield read
    finally:
        logging.getLogger().removeHandler(handler)
        handler.flush()
        os.close(fd)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def record(
    endpoint: str = "names",
    tracking_id: str | None = "0f8fad5b-d9cb-469f-a165-70867728950e",
    latency_ms: float = 12.5,
    **overrides: Any,
) -> Record:
    """A manifest record as the Locust side makes it (loadgen's and soak's tests use it)."""
    sent_ms = overrides.pop("sent_ms", 1_000.0)
    values: dict[str, Any] = {
        "seq": 1,
        "entry": endpoint,
        "endpoint": endpoint,
        "method": "GET",
        "path": f"/api/{endpoint}",
        "sent_id": None,
        "returned_id": tracking_id,
        "debug": False,
        "status": 200,
        "expected_status": 200,
        "sent_ms": sent_ms,
        "received_ms": sent_ms + latency_ms,
    }
    return Record.of_response(**(values | overrides))
