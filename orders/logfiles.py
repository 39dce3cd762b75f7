"""Where one orders process writes its lines, and how the file is renamed away.

Three modes, chosen by the settings (orders/config.py):

* neither ``LOG_FILE`` nor ``LOG_DIR``: stdout (Docker's json-file driver, compose's Filebeat).
* ``LOG_FILE``: every process appends to that one file; SIGUSR1 reopens it after an outside
  rename (``native/service.sh rotate``), as gunicorn does for the Flask service.
* ``LOG_DIR`` (+ ``LOG_RETENTION_DAYS``): every process (the manager and each worker) has its
  own file ``<LOG_DIR>/<service>-<pid>.ndjson``. At midnight UTC the process renames it to
  ``<service>-<pid>.ndjson.<YYYY-MM-DD>`` (the day it holds) and reopens the live name;
  renamed files older than the retention are deleted. This is the stdlib
  TimedRotatingFileHandler's ``when="midnight", utc=True, backupCount=N`` behaviour, done on
  the process's stdout (fd 1) so that trackstack's writer thread keeps writing without
  knowing: ``dup2`` swaps the file under it between two writes, so no line is lost or split.
  Filebeat's native input globs ``*.ndjson*`` and follows a file by its fingerprint, not its
  name, so it finishes the renamed file and starts the new one.

All writes stay in trackstack's writer thread: the event loop never waits on the disk.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import trackstack
from orders.config import Settings
from trackstack.logs import point_stdout_at
from trackstack.settings import ConfigError, exit_for

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
_ROTATED = re.compile(r"\.ndjson\.(\d{4}-\d{2}-\d{2})$")


def utc_now() -> datetime:
    return datetime.now(UTC)


class DailyFile:
    """This process's own log file under ``directory``, renamed at each UTC midnight.

    ``clock`` gives the current time (an aware datetime; default the system's UTC time):
    tests move it instead of waiting for a real midnight. ``rollover_if_due()`` does the
    rename when the UTC day changed since the file was opened; ``start()`` runs it every
    ``poll_s`` seconds in a daemon thread. Raises OSError if the directory is not writable.
    """

    def __init__(
        self,
        directory: str | Path,
        stem: str,
        retention_days: int,
        clock: Clock = utc_now,
    ) -> None:
        self.directory = Path(directory)
        self.stem = stem
        self.path = self.directory / f"{stem}.ndjson"
        self.retention_days = retention_days
        self.clock = clock
        self.day = clock().astimezone(UTC).date()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        point_stdout_at(str(self.path))

    def rollover_if_due(self) -> Path | None:
        """Rename the live file to ``<name>.<day>`` if its day is over; returns the new name."""
        with self._lock:
            today = self.clock().astimezone(UTC).date()
            if today <= self.day:
                return None
            rotated = self.path.with_name(f"{self.path.name}.{self.day.isoformat()}")
            self.path.rename(rotated)
            point_stdout_at(str(self.path))  # later writes go to the new file
            self.day = today
        log.info(
            "log file rotated to %s",
            rotated.name,
            extra={"event.action": "log_rotated", "file.path": str(rotated)},
        )
        for old in self.prune(today):
            log.info("deleted %s (retention)", old.name, extra={"event.action": "log_deleted"})
        return rotated

    def prune(self, today: date) -> list[Path]:
        """Delete renamed files (any process's) whose day is more than the retention ago."""
        oldest_kept = today - timedelta(days=self.retention_days)
        service = self.stem.rsplit("-", 1)[0]
        deleted = []
        for path in self.directory.glob(f"{service}-*.ndjson.*"):
            match = _ROTATED.search(path.name)
            if match and date.fromisoformat(match[1]) < oldest_kept:
                path.unlink(missing_ok=True)
                deleted.append(path)
        return deleted

    def start(self, poll_s: float = 1.0) -> None:
        def run() -> None:
            while not self._stop.wait(poll_s):
                try:
                    self.rollover_if_due()
                except OSError:
                    log.exception("log file rotation failed; still writing %s", self.path)

        threading.Thread(target=run, name="orders-log-rotation", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


def configure(settings: Settings, clock: Clock = utc_now) -> DailyFile | None:
    """Set up this process's logging (call once per process, before it serves).

    With LOG_DIR: opens this process's own file, starts its midnight rotation, returns it.
    With LOG_FILE: SIGUSR1 reopens the file (the caller must be the main thread). Without
    either, SIGUSR1 is ignored, as uvicorn's manager ignores it.
    """
    tracking = settings.tracking()
    daily = None
    if settings.log_dir:
        daily = DailyFile(
            settings.log_dir,
            f"{settings.service_name}-{os.getpid()}",
            settings.log_retention_days,
            clock,
        )
        try:
            daily.open()
        except OSError as exc:  # as trackstack does for LOG_FILE: one line naming it
            exit_for(
                ConfigError(f"LOG_DIR={str(settings.log_dir)!r} cannot be used: {exc.strerror}")
            )
        # The file is already fd 1; trackstack must not reopen LOG_FILE over it.
        tracking = _without_log_file(tracking)
    trackstack.configure_logging(tracking)
    # httpx logs every request at INFO, full URL and query unredacted; trackstack's transport
    # already writes one dependency_call line per call.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if daily is not None:
        daily.start()
    log_file = settings.log_file
    if daily is None and log_file:
        signal.signal(signal.SIGUSR1, lambda signum, frame: reopen(log_file))
    else:
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    # A worker starts with SIGUSR1 blocked (orders.main spawns it so): a rotation signalled
    # while it started is delivered now, to the handler above.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
    return daily


def reopen(log_file: str) -> None:
    """Reopen ``log_file`` as stdout (after ``mv`` renamed it away); the SIGUSR1 action."""
    point_stdout_at(log_file)
    log.info("reopened %s", log_file, extra={"event.action": "log_reopened"})


def _without_log_file(settings: trackstack.Settings) -> trackstack.Settings:
    import dataclasses

    return dataclasses.replace(settings, log_file=None)
