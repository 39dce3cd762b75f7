"""Tests for service/auth.py: the demo's stateless login tokens."""

from __future__ import annotations

import pytest

from service import auth

KEY = "k" * 64


@pytest.mark.parametrize(
    ("header", "user"),
    [
        pytest.param(f"Bearer {auth.issue(KEY, 'ada')}", "ada", id="valid"),
        pytest.param(f"bearer   {auth.issue(KEY, 'ada')}  ", "ada", id="scheme-case-spaces"),
        pytest.param(f"Bearer {auth.issue(KEY, 'grâce h.')}", "grâce h.", id="non-ascii-user"),
        pytest.param(None, None, id="absent"),
        pytest.param("", None, id="empty"),
        pytest.param(f"Basic {auth.issue(KEY, 'ada')}", None, id="not-bearer"),
        pytest.param("Bearer ", None, id="no-token"),
        pytest.param(f"Bearer {auth.issue('other-key', 'ada')}", None, id="other-key"),
        pytest.param(
            f"Bearer {auth.issue(KEY, 'eve').split('.')[0]}.{auth.issue(KEY, 'ada').split('.')[1]}",
            None,
            id="user-swapped",
        ),
        pytest.param("Bearer !!!.abc", None, id="not-base64"),
        pytest.param("Bearer " + "a" * 600, None, id="too-long"),
    ],
)
def test_user_of(header: str | None, user: str | None) -> None:
    """Only a bearer token signed with the key names its user; anything else is None."""
    assert auth.user_of(header, KEY) == user
