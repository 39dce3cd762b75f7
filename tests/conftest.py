"""Fixtures shared by unit and server tests."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service import create_app
from service.config import Settings
from trackstack import configure_logging

DEBUG_TOKEN = "let-me-debug-0123456789"


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


@pytest.fixture
def settings() -> Settings:
    return Settings(
        debug_log_token=DEBUG_TOKEN, db_latency_ms=1, downstream_url="http://ds.invalid"
    )


@pytest.fixture
def log_lines(tmp_path: Path, settings: Settings) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A function returning every line logged so far, each parsed as one JSON object."""
    path = tmp_path / "out.ndjson"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    handler = configure_logging(settings.tracking(), fd=fd)

    def read() -> list[dict[str, Any]]:
        handler.flush()
        return [parse_line(line) for line in path.read_text().splitlines()]

    yield read
    logging.getLogger().removeHandler(handler)
    handler.flush()
    os.close(fd)


@pytest.fixture
def client(settings: Settings, log_lines: Any) -> Any:
    return create_app(settings).test_client()
