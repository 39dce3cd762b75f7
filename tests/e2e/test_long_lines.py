"""Whole stack traces (trackstack/writer.py, LOG_MAX_LINE_BYTES = 64 KiB) through the real
native stack: the service's 40 KiB traceback is ONE Elasticsearch document, its stack trace
whole, while both workers write other lines at the same time. Compose mode (Docker's 16 KiB
partial lines, reassembled by Filebeat) is proved on the same kind of line in
test_compose_filebeat.py."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from setup.project import poll_until
from tests.helpers import SERVICE, Stack, long_trace_depth

DEPTH = long_trace_depth()  # levels deep for about 44 KiB of stack trace from this checkout


def test_a_40_kib_traceback_is_one_whole_document(stack: Stack) -> None:
    """/api/error?depth=DEPTH (about 44 KiB of trace) under concurrent traffic: exactly one
    ERROR document for its ID, error.stack_trace >= 40 KiB, uncut, from its Traceback line to
    the exception, and every other request's lines still there."""
    tracking_id = f"e2e-long-{uuid.uuid4().hex[:12]}"
    others = [f"e2e-long-other-{n}-{uuid.uuid4().hex[:8]}" for n in range(40)]

    def call(path: str, tid: str) -> int:
        return requests.get(
            f"{SERVICE}{path}", headers={"X-Tracking-ID": tid}, timeout=30
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        noise = [pool.submit(call, "/api/names", tid) for tid in others]
        failed = pool.submit(call, f"/api/error?depth={DEPTH}&detail=long-line", tracking_id)
        assert failed.result() == 500
        assert all(f.result() == 200 for f in noise)

    def error_docs() -> list[dict[str, Any]] | None:
        docs = [d for d in stack.by_id(tracking_id) if d["log"]["level"] == "error"]
        return docs or None

    docs = poll_until(error_docs, 60, f"the ERROR document of {tracking_id}")
    assert len(docs) == 1
    stack_trace = docs[0]["error"]["stack_trace"]
    assert len(stack_trace.encode()) >= 40 * 1024, len(stack_trace)
    assert "[truncated]" not in stack_trace
    assert stack_trace.startswith("Traceback (most recent call last):")
    assert stack_trace.rstrip().endswith("RuntimeError: simulated failure: long-line")
    assert stack_trace.count("in _fail_deeper") == DEPTH
    poll_until(
        lambda: all(stack.by_id(tid) for tid in others), 60, "every other request's documents"
    )
