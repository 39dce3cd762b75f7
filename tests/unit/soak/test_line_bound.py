"""The soak's 500 bursts against trackstack/ecs.py's line bound: lines made of emoji, quotes
and backslashes are cut by what they cost escaped, so the head and tail of a stack trace
survive; a record that cannot be bounded still carries its tracking ID."""

from __future__ import annotations

import json
import logging
import sys

from soak.faults import large_detail
from trackstack.ecs import TRUNCATED, EcsFormatter, bounded_json
from trackstack.redact import Redactor

LIMIT = 4095  # what EcsFormatter(max_line_bytes=4096) allows before the newline


def error_record(text: str) -> logging.LogRecord:
    try:
        raise RuntimeError(text)
    except RuntimeError:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        "trackstack.flask", logging.ERROR, __file__, 1, "unhandled RuntimeError", (), exc_info
    )


def test_an_escaped_heavy_stack_trace_keeps_its_head_and_tail() -> None:
    """The burst's 256 kept characters (12 bytes per emoji as JSON): the line is cut to the
    bound, but only as much as needed, and the trace still starts with Traceback."""
    detail = large_detail(3500)[:256]
    line = EcsFormatter("svc", Redactor()).format(error_record(f"simulated failure: {detail}"))
    assert LIMIT - 64 < len(line) <= LIMIT and line.isascii()
    doc = json.loads(line)
    trace = doc["error.stack_trace"]
    assert trace.startswith("Traceback (most recent call last):") and TRUNCATED in trace
    assert trace.rstrip("\n").endswith(detail[-20:])
    assert doc["error.message"] == f"simulated failure: {detail}"


def test_cutting_removes_what_the_escaped_form_exceeds_not_more() -> None:
    """A string of quotes and emoji shrinks to just under the limit, not to nothing."""
    doc = {"message": '"\U0001f600' * 2000, "event.id": "1"}
    line = bounded_json(doc, LIMIT)
    assert LIMIT - 16 < len(line) <= LIMIT
    message = json.loads(line)["message"]
    assert message.startswith('"\U0001f600') and message.endswith('"\U0001f600')


def test_a_record_too_large_to_bound_keeps_its_tracking_id() -> None:
    """Thirty long header values: more than twelve cuts; the stand-in line is findable."""
    doc = {
        "message": "request summary",
        "event.id": "e-1",
        "tracking_id": "abc-123",
        "trace.id": "0af7651916cd43dd8448eb211c80319c",
        "http.request.headers": {f"X-Pad-{i}": "p" * 3000 for i in range(30)},
    }
    stand_in = json.loads(bounded_json(doc, LIMIT))
    assert stand_in["message"] == "log record too large to write; dropped its fields"
    assert (stand_in["tracking_id"], stand_in["event.id"]) == ("abc-123", "e-1")
    assert stand_in["trace.id"] == doc["trace.id"]
