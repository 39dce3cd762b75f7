"""A logging handler that never lets a slow or broken stdout stall the application.

Records are formatted in the caller's thread (so its ContextVars are there); the bytes go to
a deque that one real OS thread writes, one write(2) per batch of lines (at most
``batch_bytes``, PIPE_BUF) or per line longer than that.

Whole lines, never interleaved, when several processes (gunicorn's or uvicorn's workers and
their master) share one output:

* a regular file opened with O_APPEND (LOG_FILE): Linux holds the file's inode lock for the
  whole of each write(2), so one write is one unbroken run of bytes at the end, whatever its
  size. Nothing more is done.
* a pipe (a container's stdout, a supervisor's pipe), socket or terminal: only a write of at
  most PIPE_BUF (4096) bytes is atomic (pipe(7)); a longer one may be split and another
  process's write land in between. So every write there is made under an exclusive
  ``flock`` on a lock file named after the output (``<tmp>/trackstack-<dev>-<inode>.lock``),
  which each process opens itself (flock locks belong to the open file description, which a
  forked child would otherwise share). The lock costs two syscalls per batch, in the writer
  thread, never in a request (``bench/line_writes.py`` measures it); if the lock file cannot
  be opened, lines are written unserialized, as before.

Idle, the writer parks (``park_s``): it waits on a lock instead of polling, and the first line
after the pause releases that lock, in the caller's thread: one non-blocking syscall, on at
most one line per pause.

gevent is optional: if the process has imported it (gunicorn's gevent worker), the writer is
started with gevent's *original* thread functions so it is a real OS thread, not a greenlet;
without gevent it is a plain thread. gevent is never imported here.

Hostile conditions (each documented and tested; none raises into the application):

* stdout full (a reader that stopped reading): lines queue up to ``max_pending``; beyond that
  ``emit`` waits (yielding, under gevent) until the writer catches up: backpressure, no loss.
* stdout non-blocking and full (EAGAIN): the writer waits until it is writable and retries.
* stdout closed or gone (EBADF, EPIPE, ENOSPC...): those lines are counted in
  ``dropped_lines`` and discarded; the application carries on.
* a record that cannot be formatted: a JSON stand-in line (``handleError``), never a
  traceback on stderr.
"""

from __future__ import annotations

import collections
import fcntl
import json
import logging
import os
import select
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def _real_thread_functions() -> tuple[
    Callable[..., Any], Callable[[float], None], Callable[[], Any]
]:
    """(start_new_thread, sleep, allocate_lock) that are the OS's, even after gevent
    monkey-patched them."""
    if "gevent.monkey" in sys.modules:  # only if the process imported it itself
        from gevent.monkey import get_original

        return (
            get_original("_thread", "start_new_thread"),
            get_original("time", "sleep"),
            get_original("_thread", "allocate_lock"),
        )
    import _thread

    return _thread.start_new_thread, time.sleep, _thread.allocate_lock


class LineWriterHandler(logging.Handler):
    """Formats in the caller's context; a writer thread does the (possibly blocking) write.

    ``fd``: the file descriptor to write (1 = stdout). While lines come, the writer polls its
    deque every ``poll_s`` seconds instead of being woken per line: one GIL hand-off per
    batch, not per request. After ``park_s`` seconds with no line it parks on a lock, and the
    next line wakes it: an idle process does not wake 1/poll_s times a second (at 10 ms that
    cost 4-5 ms of CPU a second per process, ``bench/idle_cpu.py``).
    ``fallback_fields(record)`` gives identity fields (dataset) for stand-in lines.
    ``serialize``: take the cross-process lock around each write (module docstring); None
    (default) decides by the output: yes unless it is a regular file.
    """

    def __init__(
        self,
        fd: int = 1,
        max_pending: int = 10_000,
        batch_bytes: int = 4096,
        poll_s: float = 0.01,
        park_s: float = 0.1,
        fallback_fields: Callable[[logging.LogRecord], dict[str, Any]] | None = None,
        serialize: bool | None = None,
    ) -> None:
        super().__init__()
        self.fd = fd
        self.max_pending = max_pending
        self.batch_bytes = batch_bytes
        self.poll_s = poll_s
        self.park_s = park_s
        self.fallback_fields = fallback_fields
        self.serialize = serialize
        self.dropped_lines = 0
        self._start_fresh()
        os.register_at_fork(before=self.flush, after_in_child=self._start_fresh)

    def _start_fresh(self) -> None:
        inherited = getattr(self, "_lock_fd", None)
        if inherited is not None:  # the parent's: a forked child opens its own
            os.close(inherited)
        self._lines: collections.deque[bytes] = collections.deque()
        self._queued = 0
        self._written = 0
        self._writer_started = False
        self._lock_fd: int | None = None  # this process's own: opened by its writer thread
        self._parked = False  # the writer waits on _wake (held while it may wait)
        self._wake: Any = None
        self._direct_lock: Any = None  # set by write_through(): lines go out in emit

    def write_through(self, timeout: float = 2.0) -> None:
        """From now on, write each line in the caller's thread before ``emit`` returns, after
        the queued ones (waited for up to ``timeout`` seconds). For a process about to end:
        what is still queued dies with it if a signal's default action ends it (uvicorn
        re-raises the SIGTERM it handled when its shutdown is done). The ASGI adapter calls
        it on ``lifespan.shutdown``. A write then blocks its caller, as a StreamHandler's
        does: not for a process that still serves."""
        self.flush(timeout)
        self._direct_lock = _real_thread_functions()[2]()

    @property
    def parked(self) -> bool:
        """True while the writer thread waits for a line instead of polling."""
        return self._parked

    def _start_writer(self) -> None:
        start_new_thread, self._sleep, allocate_lock = _real_thread_functions()
        self._wake = allocate_lock()
        self._wake.acquire()
        self._writer_started = True
        start_new_thread(self._write_forever, ())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record).encode("utf-8", "replace") + b"\n"
        except Exception:
            self.handleError(record)
            return
        self._enqueue(line)

    def _enqueue(self, line: bytes) -> None:
        if self._direct_lock is not None:
            self._write_direct(line)
            return
        if not self._writer_started:
            self._start_writer()
        self._queued += 1
        self._lines.append(line)
        # After the append, as the writer sets _parked before it looks at the deque: one of
        # the two always sees the other, so no line waits for the next one (no lost wake-up).
        if self._parked:
            self._parked = False
            try:
                self._wake.release()
            except RuntimeError:  # another line released it first
                pass
        # Backpressure without blocking the hub: time.sleep yields in a gevent worker.
        while self._queued - self._written > self.max_pending:
            time.sleep(0.001)

    def _write_direct(self, line: bytes) -> None:
        with self._direct_lock:  # whole lines from this process's threads too
            if self._lock_fd is None:
                self._lock_fd = self._open_lock()
            self._queued += 1
            if self._lock_fd is None:
                written = self._write(line)
            else:
                written = self._write_locked(self._lock_fd, line)
            if not written:
                self.dropped_lines += 1
            self._written += 1

    def _open_lock(self) -> int | None:
        """This process's descriptor of the output's lock file, or None when not needed."""
        try:
            info = os.fstat(self.fd)
        except OSError:
            return None
        serialize = self.serialize
        if serialize is None:
            serialize = not stat.S_ISREG(info.st_mode)
        if not serialize:
            return None
        path = os.path.join(
            tempfile.gettempdir(), f"trackstack-{info.st_dev:x}-{info.st_ino:x}.lock"
        )
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError:
            return None

    def _write_forever(self) -> None:
        lines = self._lines
        self._lock_fd = lock_fd = self._open_lock()
        idle_polls = 0
        park_after = max(1, round(self.park_s / self.poll_s))
        while True:
            if not lines:
                idle_polls += 1
                if idle_polls < park_after:
                    self._sleep(self.poll_s)
                    continue
                self._parked = True
                if not lines:  # set first, then looked: a line appended since is seen
                    self._wake.acquire()  # a line's release, or a stale one: look again
                self._parked = False
                idle_polls = 0
                continue
            idle_polls = 0
            # One write(2) per batch of at most batch_bytes, or per longer line.
            batch = [lines.popleft()]
            size = len(batch[0])
            while lines and size + len(lines[0]) <= self.batch_bytes:
                line = lines.popleft()
                batch.append(line)
                size += len(line)
            if lock_fd is None:
                written = self._write(b"".join(batch))
            else:
                written = self._write_locked(lock_fd, b"".join(batch))
            if not written:
                self.dropped_lines += len(batch)
            self._written += len(batch)

    def _write_locked(self, lock_fd: int, data: bytes) -> bool:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
        except OSError:
            return self._write(data)  # no lock to be had: write anyway, never lose the line
        try:
            return self._write(data)
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)

    def _write(self, data: bytes) -> bool:
        """Write all of ``data``; False if the fd is unusable (the rest is dropped)."""
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except InterruptedError:
                continue
            except BlockingIOError:  # a non-blocking fd that is full: wait, then retry
                try:
                    select.select([], [self.fd], [], 1.0)
                except (OSError, ValueError):
                    return False
            except OSError:
                return False  # EBADF, EPIPE, ENOSPC: nobody can take these lines
        return True

    def flush(self, timeout: float = 5.0) -> None:
        """Wait (at most ``timeout`` seconds) until every queued line is written. With the OS's
        sleep, not gevent's: at exit (``logging.shutdown``) a yield to the hub ran gunicorn's
        SIGINT handler inside this wait, and its SystemExit became an "Exception ignored in
        atexit callback" traceback on Ctrl-C."""
        sleep = self._sleep if self._writer_started else time.sleep
        deadline = time.monotonic() + timeout
        while self._written < self._queued and time.monotonic() < deadline:
            sleep(0.002)

    def handleError(self, record: logging.LogRecord) -> None:
        # A record that cannot be formatted still becomes one JSON line, never a traceback.
        exc = sys.exc_info()[1]
        fallback: dict[str, Any] = {
            "@timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "log.level": "error",
            "message": "log record could not be formatted",
            "error.type": type(exc).__name__ if exc else None,
            "log.logger": str(record.name),
        }
        try:
            if self.fallback_fields is not None:
                fallback |= self.fallback_fields(record)
            line = json.dumps(fallback, ensure_ascii=True, default=str)
        except Exception:
            line = json.dumps({k: str(v) for k, v in fallback.items()}, ensure_ascii=True)
        self._enqueue(line.encode() + b"\n")
