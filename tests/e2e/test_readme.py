"""The README's native commands work as written."""

from __future__ import annotations

import re
import subprocess

from setup.project import REPO
from tests.helpers import Stack


def _block_after(heading: str) -> str:
    text = (REPO / "README.md").read_text()
    section = text.split(heading, 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, f"no bash block after {heading!r}"
    return match[1]


def test_find_a_request_in_elasticsearch(stack: Stack) -> None:
    """The 'Find a request' block waits for, then prints, all four lines from both services."""
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _block_after("### Find a request in Elasticsearch")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "looking up order 42" in result.stdout
    assert '"trackstack-orders"' in result.stdout and "GET /api/orders/42 200" in result.stdout
    assert "GET /api/item 200" in result.stdout and "dependency call GET" in result.stdout
