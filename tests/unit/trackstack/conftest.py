"""Fixtures for the library's tests: its own Settings, and the lines its pipeline wrote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import DEBUG_TOKEN, Lines, captured_lines
from trackstack import Settings


@pytest.fixture
def lib_settings() -> Settings:
    return Settings(service_name="lib-test", debug_log_token=DEBUG_TOKEN, debug_loggers=("app",))


@pytest.fixture
def lines(tmp_path: Path, lib_settings: Settings) -> Iterator[Lines]:
    """A function returning every line written so far, each parsed as one JSON object."""
    with captured_lines(tmp_path / "out.ndjson", lib_settings) as read:
        yield read
