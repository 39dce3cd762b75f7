"""Whole long lines (trackstack/writer.py): lines up to 64 KiB from several processes sharing
one pipe arrive whole, never interleaved; the lock is taken only where a write could split."""

from __future__ import annotations

import collections
import json
import logging
import os
import random
import select
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from setup.project import poll_until
from tests.helpers import parse_line
from trackstack import writer
from trackstack.ecs import EcsFormatter
from trackstack.redact import Redactor
from trackstack.settings import MAX_LINE_BYTES, Settings
from trackstack.writer import LineWriterHandler


def _writers_into_one_pipe(processes: int, lines_each: int) -> bytes:
    """``processes`` forked writers, each ``lines_each`` lines (every tenth 60 KiB, the rest
    300 B) through its own LineWriterHandler on one shared pipe; returns all that arrived."""
    read_end, write_end = os.pipe()
    children = []
    for n in range(processes):
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child)
            os.close(read_end)
            handler = LineWriterHandler(write_end)
            for i in range(lines_each):
                pad = "x" * (60_000 if i % 10 == 0 else 300)
                handler._enqueue(json.dumps({"p": n, "i": i, "pad": pad}).encode() + b"\n")
            handler.flush(60)
            os._exit(0)
        children.append(pid)
    os.close(write_end)
    received = bytearray()
    while chunk := os.read(read_end, 1 << 20):
        received.extend(chunk)
    os.close(read_end)
    for pid in children:
        os.waitpid(pid, 0)
    return bytes(received)


def test_long_lines_from_four_processes_arrive_whole() -> None:
    """4 processes x 200 lines (one in ten 60 KiB) into one pipe: 800 JSON lines, each whole,
    each process's in its own order."""
    lines = [json.loads(raw) for raw in _writers_into_one_pipe(4, 200).splitlines()]
    assert len(lines) == 800
    for n in range(4):
        assert [line["i"] for line in lines if line["p"] == n] == list(range(200))
    assert sum(len(line["pad"]) == 60_000 for line in lines) == 80


@pytest.mark.parametrize(
    ("kind", "locked"),
    [
        pytest.param("pipe", True, id="pipe-locked"),
        pytest.param("regular-file", False, id="regular-file-not-locked"),
    ],
)
def test_the_lock_is_taken_only_where_a_write_could_split(
    tmp_path, kind: str, locked: bool
) -> None:
    """A pipe gets the cross-process lock; an O_APPEND regular file (one write, one run of
    bytes) does not."""
    if kind == "pipe":
        read_end, fd = os.pipe()
    else:
        read_end, fd = None, os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    handler = LineWriterHandler(fd)
    lock_fd = handler._open_lock()
    assert (lock_fd is not None) is locked
    for each in (lock_fd, fd, read_end):
        if each is not None:
            os.close(each)


@pytest.mark.parametrize(
    ("size", "whole"),
    [
        pytest.param(40 * 1024, True, id="40KiB-whole"),
        pytest.param(MAX_LINE_BYTES - 1024, True, id="63KiB-whole"),
        pytest.param(200 * 1024, False, id="200KiB-cut-to-64KiB"),
    ],
)
def test_default_line_bound_keeps_a_long_stack_trace(size: int, whole: bool) -> None:
    """The default LOG_MAX_LINE_BYTES (64 KiB): a 40 KiB traceback is written whole; a longer
    record is cut in the middle to fit, never past the bound."""
    try:
        raise RuntimeError("deep")
    except RuntimeError:
        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "%s", ("m",), sys.exc_info())
    record.__dict__["labels.detail"] = "A" + "y" * size + "Z"
    formatter = EcsFormatter("svc", Redactor(), Settings().log_max_line_bytes)
    line = formatter.format(record)
    assert len(line) <= MAX_LINE_BYTES - 1
    detail = parse_line(line)["labels"]["detail"]
    assert detail.startswith("Ay") and detail.endswith("yZ")
    assert ("truncated" not in detail) is whole


# --- parking: an idle writer waits on a lock, the next line wakes it -------------------------


def _read_line(fd: int, timeout_s: float, lines: int = 1) -> bytes:
    """``lines`` lines from ``fd`` within ``timeout_s`` seconds (what came, if fewer)."""
    received = b""
    deadline = time.monotonic() + timeout_s
    while received.count(b"\n") < lines:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        received += os.read(fd, 65536)
    return received


def test_an_idle_writer_parks_and_stops_waking(monkeypatch: pytest.MonkeyPatch) -> None:
    """After park_s without a line the writer thread waits on its lock: no more polls (each
    was a wake-up, 100 a second at poll_s 10 ms), and the next line wakes it at once."""
    sleeps: list[float] = []
    start, real_sleep, allocate = writer._real_thread_functions()

    def counting_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(writer, "_real_thread_functions", lambda: (start, counting_sleep, allocate))
    read_end, write_end = os.pipe()
    handler = LineWriterHandler(write_end, poll_s=0.01, park_s=0.1)
    handler._enqueue(b"first\n")
    assert _read_line(read_end, 2) == b"first\n"
    poll_until(lambda: handler.parked, 2, "the writer parked")
    polls = len(sleeps)
    time.sleep(0.3)
    assert len(sleeps) == polls  # parked: not one poll in 0.3 s
    woke = time.monotonic()
    handler._enqueue(b"second\n")
    assert _read_line(read_end, 2) == b"second\n"
    assert time.monotonic() - woke < 0.5
    assert not handler.parked


@pytest.fixture
def switch_often() -> Iterator[None]:
    """Threads switch every microsecond, not every 5 ms: the few bytecodes between a check
    and an action, where a lost wake-up would hide, are often interrupted."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


class RacingDeque(collections.deque[bytes]):
    """The writer's deque, with a line that comes at the worst moment for a wake-up:
    ``after_empty_check``: appended just after the writer found the deque empty, before it
    parks; ``before_append``: the line's append waits until the writer has parked (after
    ``_enqueue`` looked at ``parked``, if it looked first)."""

    def __init__(self, handler: LineWriterHandler, race: str) -> None:
        super().__init__()
        self.handler, self.race, self.armed = handler, race, False

    def __len__(self) -> int:
        size = super().__len__()
        # Once "first" is written: the writer's next look at an empty deque.
        if size == 0 and self.armed and self.race == "after_empty_check" and self.handler._written:
            self.armed = False
            self.handler._enqueue(b"raced\n")
        return size

    def append(self, line: bytes) -> None:
        if self.armed and self.race == "before_append":
            self.armed = False
            poll_until(lambda: self.handler.parked, 2, "the writer parked", every_s=0.001)
        super().append(line)


@pytest.mark.parametrize("race", ["after_empty_check", "before_append"])
def test_a_line_at_the_moment_the_writer_parks_still_wakes_it(race: str) -> None:
    """No lost wake-up: the writer marks itself parked before its last look at the deque,
    and a line is appended before ``_enqueue`` looks at the mark, so one of the two always
    sees the other; the line is written without another line to wake the writer."""
    read_end, write_end = os.pipe()
    handler = LineWriterHandler(write_end, poll_s=0.001, park_s=0.001)
    handler._lines = lines = RacingDeque(handler, race)
    lines.armed = race == "after_empty_check"
    handler._enqueue(b"first\n")
    if race == "before_append":
        assert _read_line(read_end, 2) == b"first\n"
        lines.armed = True
        handler._enqueue(b"raced\n")
        assert _read_line(read_end, 2) == b"raced\n"
    else:
        assert _read_line(read_end, 2, lines=2) == b"first\nraced\n"
    assert not lines.armed  # the race happened


@pytest.mark.usefixtures("switch_often")
def test_lines_from_many_threads_arrive_once_while_the_writer_parks_and_wakes() -> None:
    """8 threads x 300 lines at random pauses around park_s: every line arrives exactly once."""
    read_end, write_end = os.pipe()
    handler = LineWriterHandler(write_end, poll_s=0.0005, park_s=0.001)
    received = bytearray()

    def drain() -> None:
        while chunk := os.read(read_end, 1 << 16):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()

    def emit(t: int) -> None:
        rng = random.Random(t)
        for i in range(300):
            if rng.random() < 0.1:
                time.sleep(rng.uniform(0, 0.003))
            handler._enqueue(b"%d-%d\n" % (t, i))

    threads = [threading.Thread(target=emit, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.flush(10)
    os.close(write_end)
    reader.join(10)
    lines = bytes(received).splitlines()
    assert sorted(lines) == sorted(b"%d-%d" % (t, i) for t in range(8) for i in range(300))


def test_write_through_writes_the_queue_first_then_each_line_in_emit() -> None:
    """write_through(): the lines queued before it come first, in order; every later line
    is in the pipe when _enqueue returns, with no writer thread to wait for."""
    read_end, write_end = os.pipe()
    handler = LineWriterHandler(write_end)
    for n in range(100):
        handler._enqueue(b"queued %d\n" % n)
    handler.write_through()
    handler._enqueue(b"direct\n")
    assert select.select([read_end], [], [], 0)[0]
    data = b""
    while select.select([read_end], [], [], 0)[0]:
        data += os.read(read_end, 65536)
    assert data == b"".join(b"queued %d\n" % n for n in range(100)) + b"direct\n"


def test_flush_waits_with_the_os_sleep_not_a_patched_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """flush() never calls the module's time.sleep (gevent's, in a gevent worker: a yield to
    the hub, where a signal handler's SystemExit would land inside logging.shutdown)."""
    read_end, write_end = os.pipe()
    handler = LineWriterHandler(write_end)
    handler._enqueue(b"first\n")  # starts the writer with the OS's functions

    def patched_sleep(seconds: float) -> None:
        raise AssertionError("flush yielded through the patched sleep")

    monkeypatch.setattr(writer.time, "sleep", patched_sleep)
    for n in range(2000):  # under max_pending: _enqueue's backpressure never sleeps
        handler._enqueue(b"%d\n" % n)
    handler.flush(5)
    assert handler._written == handler._queued
    os.close(write_end)
    received = b""
    while chunk := os.read(read_end, 1 << 16):
        received += chunk
    assert received.count(b"\n") == 2001
