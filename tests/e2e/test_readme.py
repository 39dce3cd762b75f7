"""The README's native commands work as written."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

from setup.project import REPO
from tests.helpers import Stack

README = (REPO / "README.md").read_text()
NUMBERS = {3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}


def _block_after(heading: str) -> str:
    text = (REPO / "README.md").read_text()
    section = text.split(heading, 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, f"no bash block after {heading!r}"
    return match[1]


def test_find_a_request_in_elasticsearch(stack: Stack) -> None:
    """The 'Find a request' block waits for, then prints, the lines the README's sample shows
    (the same messages, numbers aside, as many as its text says) from both services."""
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
    section = README.split("### Find a request in Elasticsearch", 1)[1]
    sample = json.loads(re.search(r"```json\n(.*?)```", section, re.S)[1])
    printed = json.loads(result.stdout)

    def messages(hits: dict[str, Any]) -> list[str]:
        return sorted(
            re.sub(r"\d+(\.\d+)?", "N", h["_source"]["message"]) for h in hits["hits"]["hits"]
        )

    assert messages(printed) == messages(sample), result.stdout
    said = re.search(r"prints the (\w+) lines of that request", section)
    assert said and said[1] == NUMBERS[len(messages(printed))], said
