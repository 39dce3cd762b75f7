"""``python -m orders``: uvicorn, with uvicorn's own process manager (``--workers``).

Why uvicorn's manager, not gunicorn + a uvicorn worker class: FastAPI's deployment guide
("Server Workers - Uvicorn with Workers") now runs ``fastapi run --workers N`` /
``uvicorn --workers N`` and no longer shows gunicorn; since uvicorn 0.30 its manager
restarts a worker that died or stopped answering its health ping, and handles SIGHUP
(rolling restart) and SIGTTIN/SIGTTOU (more/fewer workers), while uvicorn deprecated its
gunicorn worker classes (``uvicorn.workers``) in favour of the separate ``uvicorn-worker``
package. One server, one package, one configuration: the Flask service keeps gunicorn because
it needs gevent's worker; this one needs nothing gunicorn adds. In a container with an
orchestrator, WEB_CONCURRENCY=1 runs one process and lets the orchestrator replicate.

What we add to uvicorn's manager: SIGUSR1 reopens LOG_FILE in the manager and every worker
(as gunicorn does for the Flask service; native/service.sh rotate sends it). uvicorn's
Multiprocess already catches SIGUSR1 and ignores it, so without this nothing would reopen.

Environment: PORT (8000), BIND_HOST (127.0.0.1), WEB_CONCURRENCY (2), plus orders/config.py's.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn
from uvicorn.supervisors import Multiprocess

from orders import create_app, logfiles
from orders.config import ConfigError, Settings
from orders.protocol import TrackingH11Protocol
from trackstack.settings import exit_for, whole

if TYPE_CHECKING:
    from fastapi import FastAPI


def worker_app() -> FastAPI:
    """uvicorn's app factory, called once in each worker process: logging first, then the app."""
    settings = Settings.from_env()
    logfiles.configure(settings)
    return create_app(settings)


@contextlib.contextmanager
def _usr1_held() -> Iterator[None]:
    """SIGUSR1 blocked while workers are spawned. A blocked signal stays blocked across fork
    and exec, so a worker that gets SIGUSR1 before it installed its handler holds it pending
    (instead of dying of the default action) until orders.logfiles.configure unblocks it; here
    a SIGUSR1 that came meanwhile is delivered when this block ends. Nothing is lost."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})


class Manager(Multiprocess):
    """uvicorn's process manager, plus: SIGUSR1 reopens LOG_FILE here and in every worker."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        # Multiprocess queues signals and looks at the queue every 0.5 s; a rename-based
        # rotation wants the new file now, so SIGUSR1 is handled as it arrives.
        signal.signal(signal.SIGUSR1, lambda signum, frame: self.handle_usr1())

    def init_processes(self) -> None:
        with _usr1_held():
            super().init_processes()

    def keep_subprocess_alive(self) -> None:
        with _usr1_held():
            super().keep_subprocess_alive()

    def restart_all(self) -> None:
        with _usr1_held():
            super().restart_all()

    def handle_usr1(self) -> None:
        log_file = Settings.from_env().log_file
        if log_file:
            logfiles.reopen(log_file)
        for process in self.processes:
            if process.pid is not None:
                os.kill(process.pid, signal.SIGUSR1)


def config(settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        "orders.main:worker_app",
        factory=True,
        host=os.environ.get("BIND_HOST", "127.0.0.1"),
        port=whole(os.environ, "PORT", 8000, 1, 65535),
        workers=settings.workers,
        http=TrackingH11Protocol,  # its own 400 answers are the envelope, with an ID
        log_config=None,  # trackstack's pipeline (configure_logging) is the only one
        access_log=False,  # trackstack's middleware writes the access line
        server_header=False,
        timeout_keep_alive=5,  # as gunicorn's keepalive for the Flask service
        timeout_graceful_shutdown=20,
        # The manager pings each worker and kills one that does not answer in time; a spawned
        # worker imports everything anew, which takes seconds on a busy 2-core machine.
        timeout_worker_healthcheck=30,
        h11_max_incomplete_event_size=8190,  # header bytes, as gunicorn's limit there
    )


def main() -> None:
    # The workers are spawned with this environment: one login-token key for all of them.
    os.environ.setdefault("LOGIN_TOKEN_KEY", secrets.token_hex(32))
    try:
        settings = Settings.from_env()
        cfg = config(settings)
    except ConfigError as exc:  # one JSON line naming the variable, as the Flask side says it
        exit_for(exc)
    logfiles.configure(settings)  # the manager's own lines are JSON too
    if cfg.workers > 1:
        sock = cfg.bind_socket()
        Manager(cfg, sockets=[sock]).run()
    else:
        uvicorn.Server(cfg).run()
