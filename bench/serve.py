"""Starting a server to measure: one way for every bench (wrk needs it answering first)."""

from __future__ import annotations

import runpy
import subprocess
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from setup.project import REPO, PollTimeout, poll_until


def start(
    argv: Sequence[str],
    port: int,
    log: Path,
    env: Mapping[str, str],
    timeout_s: float,
    cwd: Path = REPO,
) -> subprocess.Popen[bytes]:
    """Runs ``argv`` in ``cwd`` (the repository, or another checkout to compare with), its
    output in ``log``, and returns once http://127.0.0.1:<port>/api/health answers; if it
    does not within ``timeout_s``, kills it and exits naming the log."""
    proc = subprocess.Popen(
        list(argv), cwd=cwd, env=dict(env), stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/api/health"
    try:
        poll_until(
            lambda: urllib.request.urlopen(url, timeout=1).read() is not None,
            timeout_s,
            url,
            every_s=0.1,
        )
    except PollTimeout as exc:
        proc.kill()
        raise SystemExit(f"{argv[-1]} did not start ({exc}); see {log}") from exc
    return proc


# What every bench app takes from the service's gunicorn config, so only the worker class, the
# app and the access line differ between them.
SHARED_GUNICORN = (
    "bind",
    "workers",
    "worker_connections",
    "keepalive",
    "control_socket_disable",
    "timeout",
    "graceful_timeout",
    "accesslog",
    "errorlog",
    "loglevel",
)


def service_gunicorn_settings() -> dict[str, Any]:
    """The SHARED_GUNICORN settings of ``service/gunicorn.conf.py``, for a bench app's config
    (``globals().update(...)``): same bind, workers, keep-alive, timeouts and log targets."""
    service = runpy.run_path(str(REPO / "service" / "gunicorn.conf.py"))
    return {name: service[name] for name in SHARED_GUNICORN}
