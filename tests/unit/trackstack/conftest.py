"""Fixtures for the library's tests: its own Settings, and the lines its pipeline wrote."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import parse_line
from trackstack import Settings, configure_logging

DEBUG_TOKEN = "library-debug-token-1234"


@pytest.fixture
def lib_settings() -> Settings:
    return Settings(service_name="lib-test", debug_log_token=DEBUG_TOKEN, debug_loggers=("app",))


@pytest.fixture
def lines(tmp_path: Path, lib_settings: Settings) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A function returning every line written so far, each parsed as one JSON object."""
    path = tmp_path / "out.ndjson"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    handler = configure_logging(lib_settings, fd=fd)

    def read() -> list[dict[str, Any]]:
        handler.flush()
        return [parse_line(line) for line in path.read_text().splitlines()]

    yield read
    logging.getLogger().removeHandler(handler)
    handler.flush()
    os.close(fd)
