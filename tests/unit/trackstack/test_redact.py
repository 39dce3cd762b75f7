"""Tests for trackstack/redact.py: secrets never survive, everything else does."""

from __future__ import annotations

import pytest

from trackstack.redact import MASK, Redactor, shape

CANARY = "CANARY-s3cr3t-value"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"password={CANARY}", id="key-equals"),
        pytest.param(f'{{"password": "{CANARY}"}}', id="json-in-text"),
        pytest.param(f"api_key: {CANARY}", id="key-colon"),
        pytest.param(f"Authorization: Bearer {CANARY}", id="auth-header-in-text"),
        pytest.param(f"using bearer {CANARY} now", id="bare-bearer"),
        pytest.param(f"client-secret={CANARY}&x=1", id="dashed-key"),
        pytest.param(f"X-Debug-Token={CANARY}", id="debug-token"),
    ],
)
def test_text_hides_values_after_secret_keys(text: str) -> None:
    """key=value, key: value, JSON pairs and Bearer credentials lose their value."""
    assert CANARY not in Redactor().text(text)


def test_text_keeps_ordinary_words() -> None:
    """Text without secrets is unchanged."""
    text = "order 42 shipped to user ada (status=ok)"
    assert Redactor().text(text) == text


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("Authorization", True),
        ("Cookie", True),
        ("Set-Cookie", True),
        ("X-Api-Key", True),
        ("X-Debug-Token", True),
        ("X-Tracking-ID", False),
        ("User-Agent", False),
    ],
)
def test_header_names(name: str, secret: bool) -> None:
    """Secret headers are masked whole; others keep their value."""
    redacted = Redactor().headers([(name, CANARY)])
    assert (redacted[name] == MASK) is secret


def test_query_masks_secret_parameters() -> None:
    """Query values of secret keys are masked, the rest kept."""
    query = Redactor().query(f"page=2&token={CANARY}&access_token={CANARY}")
    assert CANARY not in query and "page=2" in query and query.count(MASK) == 2


def test_json_masks_nested_keys() -> None:
    """Nested objects and lists are walked."""
    body = {"user": "ada", "auth": {"password": CANARY}, "keys": [{"api-key": CANARY}]}
    assert CANARY not in str(Redactor().json(body))
    assert Redactor().json(body)["user"] == "ada"


def test_extra_keys_from_settings() -> None:
    """REDACT_KEYS adds words to the defaults."""
    assert Redactor(["ssn"]).headers([("X-SSN", CANARY)])["X-SSN"] == MASK
    assert Redactor().headers([("X-SSN", "1")])["X-SSN"] == "1"


def test_shape_has_types_not_values() -> None:
    """A body's shape names types only."""
    assert shape({"username": "ada", "password": CANARY, "n": [1, 2]}) == {
        "username": "str",
        "password": "str",
        "n": ["int", "int"],
    }
