"""Fixtures shared by unit and server tests, and each test's tier marker, set by its folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service import create_app
from service.config import Settings
from tests.helpers import DEBUG_TOKEN, Lines, captured_lines


@pytest.fixture
def settings() -> Settings:
    return Settings(
        debug_log_token=DEBUG_TOKEN, db_latency_ms=1, downstream_url="http://ds.invalid"
    )


@pytest.fixture
def log_lines(tmp_path: Path, settings: Settings) -> Iterator[Lines]:
    """A function returning every line logged so far, each parsed as one JSON object."""
    with captured_lines(tmp_path / "out.ndjson", settings.tracking()) as read:
        yield read


@pytest.fixture
def client(settings: Settings, log_lines: Any) -> Any:
    return create_app(settings).test_client()


# tests/<tier>/...: the marker `pytest -m` selects by (pyproject.toml lists them; `make unit`
# runs -m unit). The soak's short form is e2e too, and also soak: `-m "e2e and not soak"`.
TIERS = ("unit", "server", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        tier = item.path.relative_to(tests).parts[0]
        if tier in TIERS:
            item.add_marker(tier)
        if tier == "e2e" and item.path.name in ("test_soak.py", "test_soak_cluster.py"):
            item.add_marker("soak")
