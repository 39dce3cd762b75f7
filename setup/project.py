"""What every part of the repository shares: paths, the secrets folder, env files, shared
names and one way to wait for something. Standard library only, so the host's python3 can
import it before `make install` (``python3 -m setup.compose``) as well as the services' image.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
# The data view every saved object refers to (kibana/*.ndjson); Discover opens on it.
DATA_VIEW_ID = "trackstack-logs"
INDEX_PATTERN = "trackstack-logs-*"  # the service's data streams (elasticsearch/templates/)

T = TypeVar("T")


def secrets_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the generated secrets live: ``SECRETS_DIR``, else the repository's ``.secrets/``."""
    return Path((os.environ if env is None else env).get("SECRETS_DIR", REPO / ".secrets"))


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file (the form a shell's `source`, compose's env_file and
    Filebeat's ${VAR} read); a missing file gives {}. Blank and # lines are skipped; no quoting
    or expansion."""
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


class PollTimeout(TimeoutError):
    """``poll_until`` ran out of time; the message names what it waited for and the last error."""


def poll_until(
    check: Callable[[], T | None], timeout_s: float, what: str, every_s: float = 0.25
) -> T:
    """Calls ``check`` every ``every_s`` seconds until it returns something truthy, and returns
    that. An exception from ``check`` counts as "not yet"; after ``timeout_s`` seconds it raises
    PollTimeout naming ``what`` and the last error or falsy result (the way the
    opentelemetry-demo's end-to-end tests wait for their backend)."""
    deadline = time.monotonic() + timeout_s
    last = "never called"
    while True:
        try:
            result = check()
            if result:
                return result
            last = f"returned {result!r}"
        except Exception as exc:  # not ready yet: kept for the timeout's message
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise PollTimeout(f"timed out after {timeout_s:g} s waiting for {what}; last: {last}")
        time.sleep(every_s)
