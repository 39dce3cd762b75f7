"""Whole long lines (trackstack/writer.py): lines up to 64 KiB from several processes sharing
one pipe arrive whole, never interleaved; the lock is taken only where a write could split."""

from __future__ import annotations

import json
import logging
import os
import sys

import pytest

from tests.helpers import parse_line
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
