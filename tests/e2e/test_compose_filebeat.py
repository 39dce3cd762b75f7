"""Filebeat as docker compose runs it, on Docker's json-file logs, shipping to the real
Elasticsearch.

No Docker engine here, so the test lays out what Filebeat sees in the container: a
<containers>/<id>/<id>-json.log per container, one {"log", "stream", "time"} object per line,
and a line over 16 KiB split the way Docker splits it (the chunks before the last lack the
trailing newline). Then it runs the real Filebeat binary with compose's own command line from
docker-compose.yml: the credentials file it sources, --strict.perms=false, the HTTP endpoint
its healthcheck asks; only the paths change to this checkout and a temp dir.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from loadgen.dockerlog import DOCKER_CHUNK
from setup.project import free_port, poll_until
from tests.helpers import (
    Stack,
    compose_command,
    compose_filebeat_env,
    docker_lines,
    filebeat_binary,
    long_trace_depth,
    now,
    service_line,
)
from trackstack.ecs import EcsFormatter
from trackstack.redact import Redactor
from trackstack.settings import Settings as TrackstackSettings


@dataclass
class Sample:
    """The container logs written, and what Elasticsearch should end up holding."""

    containers: Path
    shipped: dict[str, dict[str, Any]]  # event.id -> the record
    streams: dict[str, str]  # event.id -> stdout/stderr
    dropped_marker: str
    big_id: str
    trace_id: str


def service_traceback_line(tracking_id: str) -> str:
    """The ERROR line the service writes for /api/error?depth=DEPTH: its own formatter and
    default line bound (64 KiB), a real stack trace over 40 KiB, so at least three Docker
    messages."""
    from service.api import _fail_deep

    try:
        _fail_deep(long_trace_depth(), "compose long line")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "service.api", logging.ERROR, __file__, 1, "unhandled RuntimeError", (), exc_info
    )
    record.__dict__["tracking_id"] = tracking_id
    formatter = EcsFormatter(
        "trackstack-service", Redactor(), TrackstackSettings().log_max_line_bytes
    )
    line = formatter.format(record)
    assert 40 * 1024 <= len(json.loads(line)["error.stack_trace"]) and "[truncated]" not in line
    return line


def write_sample(containers: Path) -> Sample:
    tag = uuid.uuid4().hex[:12]
    ids = {name: f"e2e-compose-{name}-{tag}" for name in ("order", "big", "trace", "last")}
    marker = f"not-ours-{tag}"

    order = service_line("trackstack-service", ids["order"], message="looking up order 42")
    orders_access = service_line(
        "trackstack-orders",
        ids["order"],
        message="GET /api/item 200",
        **{
            "event.dataset": "trackstack.access",
            "http.request.method": "GET",
            "url.path": "/api/item",
            "http.response.status_code": 200,
            "event.duration": 2_069_000,
        },
    )
    # Longer than LOG_MAX_LINE_BYTES allows, but Docker would split any line this way.
    big = service_line("trackstack-service", ids["big"], message="x" * (2 * DOCKER_CHUNK + 5000))
    server = service_line(
        "trackstack-service",
        None,
        message="Booting worker",
        **{"event.dataset": "trackstack.server"},
    )
    trace_line = service_traceback_line(ids["trace"])
    trace = json.loads(trace_line)
    last = service_line("trackstack-service", ids["last"], message="the last line")
    not_ours = {"@timestamp": now(), "message": marker, "event.dataset": "elasticsearch.server"}

    big_messages, trace_messages = docker_lines(json.dumps(big)), docker_lines(trace_line)
    # The traceback's size follows the checkout's path (every frame names its file), so
    # its message count is a floor, not a figure: at least three, whatever the path.
    assert len(big_messages) == 3 and len(trace_messages) >= 3
    service_log = [
        *docker_lines(json.dumps(order)),
        *docker_lines(f"plain text, not JSON: {marker}"),
        *docker_lines(json.dumps(not_ours)),
        *big_messages,
        *trace_messages,
        *docker_lines(json.dumps(order)),  # the same line again (a re-read): same _id
        *docker_lines(json.dumps(server), stream="stderr"),
        *docker_lines(json.dumps(last)),
    ]
    partial = [line for line in service_log if not json.loads(line)["log"].endswith("\n")]
    assert len(partial) == len(big_messages) - 1 + len(trace_messages) - 1
    orders_log = docker_lines(json.dumps(orders_access))
    for lines in (service_log, orders_log):
        container_id = uuid.uuid4().hex * 2  # Docker's ids are 64 hex digits
        folder = containers / container_id
        folder.mkdir(parents=True)
        (folder / f"{container_id}-json.log").write_text("".join(lines))

    shipped = {r["event.id"]: r for r in (order, orders_access, big, trace, server, last)}
    streams = dict.fromkeys(shipped, "stdout") | {server["event.id"]: "stderr"}
    return Sample(containers, shipped, streams, marker, ids["big"], ids["trace"])


@dataclass
class RunningFilebeat:
    process: subprocess.Popen[bytes]
    port: int
    output: Path

    def log(self) -> str:
        return self.output.read_text(errors="replace")


@pytest.fixture
def filebeat(tmp_path: Path, stack: Stack) -> Iterator[tuple[RunningFilebeat, Sample]]:
    binary = filebeat_binary()
    sample = write_sample(tmp_path / "containers")
    port = free_port()
    env = compose_filebeat_env(sample.containers)
    output = tmp_path / "filebeat.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", compose_command(binary, tmp_path, port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = RunningFilebeat(process, port, output)
    yield running, sample
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_compose_filebeat_ships_docker_logs(
    filebeat: tuple[RunningFilebeat, Sample], stack: Stack
) -> None:
    """Every trackstack line lands once, fields at the top level, _id = event.id, the split
    lines whole (the service's 40 KiB traceback too), other programs' lines dropped, no JSON
    decoding errors."""
    running, sample = filebeat
    event_ids = list(sample.shipped)

    def all_shipped() -> list[dict[str, Any]] | None:
        assert running.process.poll() is None, f"Filebeat exited:\n{running.log()[-3000:]}"
        docs = stack.docs({"terms": {"event.id": event_ids}})
        return docs if len(docs) >= len(event_ids) else None

    docs = poll_until(all_shipped, 60, f"{len(event_ids)} documents from Filebeat (compose mode)")

    assert sorted(d["event"]["id"] for d in docs) == sorted(event_ids)  # the repeat: no 2nd doc
    for doc in docs:
        sent = sample.shipped[doc["event"]["id"]]
        assert doc["_id"] == sent["event.id"]
        assert doc["message"] == sent["message"]
        assert doc["@timestamp"] == sent["@timestamp"]
        assert doc["service"]["name"] == sent["service.name"]
        assert doc["event"]["dataset"] == sent["event.dataset"]
        assert doc.get("tracking_id") == sent.get("tracking_id")
        assert doc["stream"] == sample.streams[sent["event.id"]]
        assert isinstance(doc["log"], dict) and doc["log"]["level"] == sent["log.level"]
        assert "json" not in doc  # parsed to the top level, not under a "json" key
        assert doc.get("error", {}).get("type") != "json"  # what a decoding error adds
    (big,) = [d for d in docs if d.get("tracking_id") == sample.big_id]
    assert len(big["message"]) == 2 * DOCKER_CHUNK + 5000
    # The service's own 40 KiB traceback line: three or more Docker messages, one document.
    (trace,) = [d for d in docs if d.get("tracking_id") == sample.trace_id]
    sent_trace = sample.shipped[trace["event"]["id"]]["error.stack_trace"]
    assert trace["error"]["stack_trace"] == sent_trace and len(sent_trace) >= 40 * 1024
    orders = {
        d["service"]["name"]
        for d in docs
        if d.get("tracking_id", "").startswith("e2e-compose-order")
    }
    assert orders == {"trackstack-service", "trackstack-orders"}

    # Lines before the last one were all read; the ones that are not ours were dropped.
    assert stack.count({"match_phrase": {"message": sample.dropped_marker}}) == 0
    assert "Error decoding JSON" not in running.log()

    # What compose's healthcheck asks: the HTTP endpoint the -E flags turn on.
    info = requests.get(f"http://127.0.0.1:{running.port}/", timeout=5).json()
    assert info["beat"] == "filebeat"
