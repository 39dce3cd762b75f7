"""Tests for trackstack/logs.py and the formatter's basics: one valid, bounded JSON object per
line, with our fields."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys

import pytest

from setup.project import REPO
from tests.helpers import parse_line
from trackstack import bound
from trackstack.ecs import ConsoleFormatter, Datasets, EcsFormatter, bounded_json, event_ids
from trackstack.logs import TrackingFilter
from trackstack.redact import Redactor

dataset_for = Datasets()
APP, ACCESS, SERVER = dataset_for.app, dataset_for.access, dataset_for.server


def _record(
    msg: str = "hello %s", args: tuple = ("world",), name: str = "service.api", **extra
) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_required_fields_on_a_line() -> None:
    """@timestamp, log.level, message, service.name, event.dataset, event.id are always there."""
    line = parse_line(EcsFormatter("svc", Redactor()).format(_record()))
    assert line["message"] == "hello world" and line["log.level"] == "info"
    assert line["service"]["name"] == "svc"
    assert line["event"]["dataset"] == APP and line["event"]["id"]
    assert line["@timestamp"].endswith("Z")


@pytest.mark.parametrize(
    ("logger", "dataset"),
    [
        ("gunicorn.access", ACCESS),
        ("gunicorn.error", SERVER),
        ("service.api", APP),
        ("urllib3", APP),
    ],
)
def test_dataset_by_logger(logger: str, dataset: str) -> None:
    """Access, server and app lines are told apart by event.dataset."""
    assert dataset_for(logger) == dataset


def test_event_ids_are_unique_and_change_after_fork() -> None:
    """event.id never repeats in a process, and a forked child gets a new prefix."""
    ids = {event_ids.next() for _ in range(10_000)}
    assert len(ids) == 10_000
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, event_ids.next().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_id = os.read(read, 100).decode()
    assert child_id.split("-")[0] != event_ids.next().split("-")[0]


def test_exception_fields_and_redaction() -> None:
    """Errors carry error.type/message/stack_trace, with secrets masked in all of them."""
    try:
        raise ValueError("bad password=hunter2")
    except ValueError:
        record = logging.LogRecord(
            "service.api", logging.ERROR, __file__, 1, "boom token=abc", (), None
        )
        import sys

        record.exc_info = sys.exc_info()
    line = parse_line(EcsFormatter("svc", Redactor()).format(record))
    assert line["error"]["type"] == "ValueError"
    assert "hunter2" not in json.dumps(line) and "abc" not in line["message"]
    assert "test_logs.py" in line["error"]["stack_trace"]


@pytest.mark.parametrize("size", [5_000, 50_000, 1_000_000])
def test_huge_records_stay_one_bounded_line(size: int) -> None:
    """However large a message or stack trace, the line fits PIPE_BUF and keeps both ends."""
    record = _record("%s", ("A" + "x" * size + "Z",))
    line = EcsFormatter("svc", Redactor(), max_line_bytes=4096).format(record)
    assert len(line.encode()) <= 4095
    message = parse_line(line)["message"]
    assert message.startswith("Ax") and message.endswith("xZ") and "truncated" in message


def test_bounding_counts_escaped_bytes() -> None:
    """Non-ASCII and control characters are escaped; the bound holds on the escaped form."""
    doc = {"message": "\u4e2d\x01" * 5000, "event.id": "1"}
    line = bounded_json(doc, 4095)
    assert len(line.encode()) <= 4095 and line.isascii()
    json.loads(line)


def test_tracking_filter_adds_context(log_lines) -> None:
    """Lines logged inside a request's context carry its tracking_id; outside they don't."""
    log = logging.getLogger("service.test")
    with bound("abc-123"):
        log.info("inside")
    log.info("outside")
    lines = {line["message"]: line for line in log_lines()}
    assert lines["inside"]["tracking_id"] == "abc-123"
    assert "tracking_id" not in lines["outside"]


def test_debug_records_dropped_by_default(log_lines) -> None:
    """Our DEBUG records are created but not written unless the request enabled debug."""
    logging.getLogger("service.test").debug("hidden")
    assert not [line for line in log_lines() if line["message"] == "hidden"]


def test_console_format_has_the_same_fields() -> None:
    """LOG_FORMAT=console: one readable line with tracking ID and fields."""
    with bound("abc-123"):
        record = _record(**{"event.action": "db_query"})
        TrackingFilter().filter(record)
    text = ConsoleFormatter("svc", Redactor()).format(record)
    assert "[abc-123] hello world" in text and 'event.action="db_query"' in text
    assert 'service.name="svc"' in text


def test_many_lines_from_threads_are_whole(log_lines) -> None:
    """Concurrent emitters never produce a torn or merged line."""
    import threading

    log = logging.getLogger("service.test")

    def spam(n: int) -> None:
        for i in range(300):
            log.info("thread %d line %d %s", n, i, "y" * (i * 13 % 3000))

    threads = [threading.Thread(target=spam, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = [line for line in log_lines() if line["message"].startswith("thread")]
    assert len(lines) == 1200


SIGTERM_PROBE = """
import logging, os, signal, sys
import trackstack
if sys.argv[1] == "own-handler":
    signal.signal(signal.SIGTERM, lambda signum, frame: os.write(1, b"own handler\\n"))
for _ in range(2 if sys.argv[1] == "configured-twice" else 1):
    trackstack.configure_logging()
log = logging.getLogger("probe")
for i in range(2000):
    log.info("line %d", i)
os.kill(os.getpid(), signal.SIGTERM)
logging.shutdown()
"""


@pytest.mark.parametrize(
    ("case", "returncode"),
    [
        pytest.param("default", -signal.SIGTERM, id="sigterm-default-action"),
        pytest.param("configured-twice", -signal.SIGTERM, id="configured-twice"),
        pytest.param("own-handler", 0, id="an-own-handler-is-kept"),
    ],
)
def test_sigterm_writes_the_queued_lines_first(case: str, returncode: int) -> None:
    """2,000 lines queued, then SIGTERM with its default action: all 2,000 are written, then
    the process ends by SIGTERM as before (status -15); a handler the program set is kept."""
    result = subprocess.run(
        [sys.executable, "-c", SIGTERM_PROBE, case], capture_output=True, timeout=60, cwd=REPO
    )
    assert result.returncode == returncode, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith(b"{")]
    assert len(lines) == 2000
    assert [json.loads(line)["message"] for line in lines] == [f"line {i}" for i in range(2000)]
    assert (b"own handler" in result.stdout) is (case == "own-handler")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("TRACKING_ID_POLICY", "bogus", id="choice"),
        pytest.param("LOG_LEVELS", "example=LOUD", id="levels"),
        pytest.param("LOG_LEVEL", "CHATTY", id="level"),
        pytest.param("LOG_MAX_LINE_BYTES", "lots", id="number"),
        pytest.param("DEBUG_SAMPLE_RATE", "2", id="range"),
        pytest.param("LOG_FORMAT", "xml", id="format"),
        pytest.param("LOG_FILE", "/nonexistent/dir/x.log", id="log-file-folder-missing"),
        pytest.param("LOG_MAX_LINE_BYTES", "2048.5", id="whole"),
    ],
)
def test_configure_logging_from_a_bad_environment_ends_with_one_json_line(
    name: str, value: str
) -> None:
    """An app's own ``trackstack.configure_logging()`` (the README's FastAPI example, run by
    uvicorn) with an unusable variable: exit status 1 and one ConfigError line naming it on
    stderr, not a traceback through uvicorn's import of the app."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOG_", "DEBUG_", "TRACK"))}
    result = subprocess.run(
        [sys.executable, "-c", "import trackstack; trackstack.configure_logging()"],
        env=env | {name: value, "LOG_DATASET_PREFIX": "acme"},
        capture_output=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 1
    (line,) = result.stderr.decode().strip().splitlines()
    record = json.loads(line)
    assert record["error.type"] == "ConfigError" and name in record["message"], record
    assert record["event.dataset"] == "acme.server"  # LOG_DATASET_PREFIX, as on every line
