"""python -m setup (setup/__main__.py) against the running Elasticsearch: re-running it is safe
(compose runs it on every `docker compose up`, the native stack on every `make native-up`)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from loadgen.elastic import REPO
from tests.e2e.conftest import Stack

TEMPLATE = "trackstack-logs"


def run_setup() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "setup"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def template(stack: Stack) -> dict[str, Any]:
    found = stack.es.indices.get_index_template(name=TEMPLATE)["index_templates"]
    return dict(found[0]["index_template"])


def test_setup_twice_gives_the_same_result(stack: Stack) -> None:
    """Both runs exit 0; the second changes nothing: the template is byte-for-byte the one the
    first run left, and every user still authenticates with its generated password."""
    first = run_setup()
    assert first.returncode == 0, first.stdout + first.stderr
    after_first = template(stack)
    secrets_before = {p.name: p.read_bytes() for p in (REPO / ".secrets").glob("*.env")}

    second = run_setup()
    assert second.returncode == 0, second.stdout + second.stderr
    assert template(stack) == after_first
    assert f"index template {TEMPLATE}: unchanged" in second.stdout
    assert "created" not in second.stdout and "updated" not in second.stdout
    for user in ("trackstack_filebeat", "trackstack_reader"):
        assert f"user {user}: verified" in second.stdout
    assert {p.name: p.read_bytes() for p in (REPO / ".secrets").glob("*.env")} == secrets_before


def test_template_carries_the_hash_of_its_source(stack: Stack) -> None:
    """The applied template is the file's, stamped with its hash: how a re-run knows."""
    applied = template(stack)
    meta = applied["_meta"]
    assert meta["managed_by"] == "python -m setup"
    assert len(meta["trackstack_source_sha256"]) == 64
    assert applied["index_patterns"] == ["trackstack-logs-*"]
