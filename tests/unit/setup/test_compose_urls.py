"""`make urls` (python -m setup.compose urls) says what is true of the stack that runs: compose with
Kibana and its login, native without Kibana and without passwords in clear, or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from setup import compose

PASSWORD = "s3cret-do-not-print"


RUNNING = dict.fromkeys(["elasticsearch", "esfront", "trackstack-service"], "running")


@pytest.mark.parametrize(
    ("compose_runs", "native", "says", "password_shown"),
    [
        pytest.param(True, {}, ["Kibana          http://127.0.0.1:5601"], True, id="compose"),
        pytest.param(
            False,
            RUNNING | {"filebeat": "stopped"},
            ["no Kibana in this mode", "password in", "not running: filebeat"],
            False,
            id="native",
        ),
        pytest.param(
            False,
            dict.fromkeys(RUNNING, "stopped"),
            ["no stack is running", "make up", "make native-up", "elastic.env"],
            False,
            id="nothing",
        ),
    ],
)
def test_urls_fit_what_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    compose_runs: bool,
    native: dict[str, str],
    says: list[str],
    password_shown: bool,
) -> None:
    """Only a running compose stack gets the Kibana login; otherwise it says where it is."""
    (tmp_path / "elastic.env").write_text(f"ELASTIC_PASSWORD={PASSWORD}\n")
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    monkeypatch.setattr(compose, "compose_running", lambda: compose_runs)
    monkeypatch.setattr(compose, "native_pieces", lambda: native)
    assert compose.urls() == 0
    out = capsys.readouterr().out
    for words in says:
        assert words in out, out
    assert (PASSWORD in out) is password_shown
    assert ("5601" in out) is compose_runs


def test_urls_without_docker_or_a_stack() -> None:
    """On this machine's real state the helpers answer without raising."""
    assert isinstance(compose.compose_running(), bool)
    assert isinstance(compose.native_pieces(), dict)
