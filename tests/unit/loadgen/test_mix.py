"""Tests for loadgen/mix.py: the one weighted table, its README copy, the requests it builds."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest

from loadgen import USER_AGENT, expectations, mix
from setup.project import REPO
from trackstack import is_valid

TOKEN = "debug-token-for-tests"


def test_weights_are_percentages_and_names_unique() -> None:
    """The weights add up to 100, every row is named once and names a known endpoint."""
    assert sum(entry.weight for entry in mix.MIX) == 100
    assert all(entry.weight > 0 for entry in mix.MIX)
    names = [entry.name for entry in mix.MIX]
    assert len(names) == len(set(names))
    assert {entry.endpoint for entry in mix.MIX} == set(mix.ENDPOINTS)


def test_mix_covers_every_kind_of_traffic_the_issue_asks_for() -> None:
    """Client IDs, invalid IDs and debug requests each have a row; cross-service too."""
    sources = {entry.tracking_id for entry in mix.MIX}
    assert sources == {"server", "client", "invalid"}
    assert any(entry.debug for entry in mix.MIX)
    assert any(e.endpoint == "orders" and e.tracking_id == "client" for e in mix.MIX)


def test_readme_shows_the_same_tables() -> None:
    """The README's mix and expectation tables are exactly what the code generates."""
    readme = (REPO / "README.md").read_text()
    assert mix.markdown_table() in readme
    assert expectations.markdown_table() in readme


def test_debug_rows_need_the_token() -> None:
    """Without DEBUG_LOG_TOKEN the debug rows are left out; with it, everything is sent."""
    assert not any(entry.debug for entry in mix.enabled(None))
    assert mix.enabled(TOKEN) == mix.MIX


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param((), [e.name for e in mix.MIX], id="none-means-all"),
        pytest.param(("health",), ["health"], id="one"),
        pytest.param(("names", "health"), ["health", "names"], id="mix-order-kept"),
        pytest.param(("users-debug",), ["users-debug"], id="a-debug-row"),
    ],
)
def test_only_keeps_the_named_rows(names: tuple[str, ...], expected: list[str]) -> None:
    """`--entries`: the named rows with their weights, in the mix's order."""
    rows = mix.only(names)
    assert [entry.name for entry in rows] == expected
    assert all(entry in mix.MIX for entry in rows)


def test_only_names_the_unknown_rows() -> None:
    with pytest.raises(ValueError, match=r"unknown mix entries helth, nope; the mix has .*health"):
        mix.only(("helth", "health", "nope"))


def test_pick_follows_the_weights() -> None:
    """Over 100 000 picks each row's share is within 0.5 points of its weight."""
    rng = random.Random(7)
    counts = Counter(mix.pick(rng, mix.MIX).name for _ in range(100_000))
    for entry in mix.MIX:
        assert abs(counts[entry.name] / 1000 - entry.weight) < 0.5, entry.name


@pytest.mark.parametrize("entry", mix.MIX, ids=lambda e: e.name)
def test_every_row_builds_a_request_for_its_endpoint(entry: mix.Entry) -> None:
    """Method, path prefix and expected status come from the endpoint table."""
    request = mix.build(entry, 42, "20261121T000000Z", random.Random(1), TOKEN)
    endpoint = mix.ENDPOINTS[entry.endpoint]
    prefix = re.split(r"[?<]", endpoint.route)[0]
    assert request.method == endpoint.method
    assert request.path.startswith(prefix)
    assert request.expected_status == endpoint.expected_status
    assert ("X-Debug-Token" in request.headers) is entry.debug


def test_client_ids_are_valid_unique_and_invalid_ones_are_not() -> None:
    """Client-chosen IDs pass the service's own rule; the invalid ones all fail it."""
    client = mix.Entry("c", 1, "names", "client")
    invalid = mix.Entry("i", 1, "names", "invalid")
    ids = {mix.build(client, seq, "RUN", random.Random(), None).sent_id for seq in range(50)}
    assert len(ids) == 50 and all(i is not None and is_valid(i) for i in ids)
    sent = {mix.build(invalid, seq, "RUN", random.Random(), None).sent_id for seq in range(9)}
    assert sent == set(mix.INVALID_IDS)
    assert not any(is_valid(value) for value in mix.INVALID_IDS)
    for value in mix.INVALID_IDS:
        value.encode("latin-1")  # must travel in an HTTP header


def test_login_sends_a_password_and_error_a_secret_for_redaction() -> None:
    """The login body carries a password; /api/error's detail carries one too."""
    rng = random.Random(3)
    login = mix.build(mix.Entry("l", 1, "login"), 1, "RUN", rng, None)
    assert login.json_body is not None
    assert login.json_body["password"] == mix.SYNTHETIC_PASSWORD
    error = mix.build(mix.Entry("e", 1, "error"), 1, "RUN", rng, None)
    assert "password%3D" in error.path


def test_slow_calls_stay_under_a_second() -> None:
    """/api/slow asks for 100-800 ms, so one user per second keeps its pace."""
    rng = random.Random(5)
    slow = mix.Entry("s", 1, "slow")
    values = {int(mix.build(slow, 1, "R", rng, None).path.split("=")[1]) for _ in range(500)}
    assert min(values) == 100 and max(values) == 800


def test_debug_token_from_environment_then_secrets_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """DEBUG_LOG_TOKEN wins; else .secrets/service.env; else None (debug rows off)."""
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("DEBUG_LOG_TOKEN", raising=False)
    assert mix.debug_token() is None
    (tmp_path / "service.env").write_text("DEBUG_LOG_TOKEN=from-file\n")
    assert mix.debug_token() == "from-file"
    monkeypatch.setenv("DEBUG_LOG_TOKEN", "from-env")
    assert mix.debug_token() == "from-env"


def test_user_agent_marks_the_traffic_synthetic() -> None:
    """Every request says which tool and version sent it, and that it is synthetic."""
    assert re.fullmatch(r"trackstack-loadgen/\d+\.\d+\.\d+ \(synthetic\)", USER_AGENT)
