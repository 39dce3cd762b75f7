"""Tests for service/config.py: defaults, parsing and clear errors."""

from __future__ import annotations

import pytest

from service.config import ConfigError, Settings


def test_defaults() -> None:
    """An empty environment gives the documented defaults."""
    settings = Settings.from_env({})
    assert settings.tracking_id_policy == "replace" and settings.log_format == "json"
    assert settings.debug_log_token is None and settings.downstream_url == "http://127.0.0.1:8000"


def test_downstream_follows_port() -> None:
    """DOWNSTREAM_URL defaults to this instance's own PORT."""
    assert Settings.from_env({"PORT": "8001"}).downstream_url == "http://127.0.0.1:8001"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        pytest.param({"TRACKING_ID_POLICY": "drop"}, "TRACKING_ID_POLICY", id="policy"),
        pytest.param({"LOG_FORMAT": "xml"}, "LOG_FORMAT", id="format"),
        pytest.param({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL", id="level"),
        pytest.param({"FAULT_ERROR_RATE": "2"}, "FAULT_ERROR_RATE", id="rate-range"),
        pytest.param({"FAULT_LATENCY_MS": "soon"}, "FAULT_LATENCY_MS", id="not-a-number"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], name: str) -> None:
    """A bad value fails at start with the variable's name in the message."""
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)
