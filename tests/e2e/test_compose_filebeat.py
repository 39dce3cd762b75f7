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
import os
import shlex
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from loadgen.dockerlog import DOCKER_CHUNK, messages
from loadgen.elastic import REPO
from setup.project import poll_until
from tests.e2e.conftest import Stack

FILEBEAT_SERVICE = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["filebeat"]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def docker_lines(line: str, stream: str = "stdout") -> list[str]:
    """How Docker's json-file driver stores one line the container wrote (loadgen.dockerlog)."""
    return [record.decode() for record in messages(line, stream)]


def service_line(service: str, tracking_id: str | None, **fields: Any) -> dict[str, Any]:
    """A log record as the service writes it (flat dotted ECS keys)."""
    record = {
        "@timestamp": now(),
        "log.level": "info",
        "message": "compose e2e",
        "ecs.version": "8.11.0",
        "service.name": service,
        "event.dataset": "trackstack.app",
        "event.id": f"e2e-{uuid.uuid4().hex}",
        "log.logger": "service.api",
        "process.pid": 7,
    }
    if tracking_id:
        record["tracking_id"] = tracking_id
    return record | fields


@dataclass
class Sample:
    """The container logs written, and what Elasticsearch should end up holding."""

    containers: Path
    shipped: dict[str, dict[str, Any]]  # event.id -> the record
    streams: dict[str, str]  # event.id -> stdout/stderr
    dropped_marker: str
    big_id: str


def write_sample(containers: Path) -> Sample:
    tag = uuid.uuid4().hex[:12]
    ids = {name: f"e2e-compose-{name}-{tag}" for name in ("order", "big", "last")}
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
    last = service_line("trackstack-service", ids["last"], message="the last line")
    not_ours = {"@timestamp": now(), "message": marker, "event.dataset": "elasticsearch.server"}

    service_log = [
        *docker_lines(json.dumps(order)),
        *docker_lines(f"plain text, not JSON: {marker}"),
        *docker_lines(json.dumps(not_ours)),
        *docker_lines(json.dumps(big)),
        *docker_lines(json.dumps(order)),  # the same line again (a re-read): same _id
        *docker_lines(json.dumps(server), stream="stderr"),
        *docker_lines(json.dumps(last)),
    ]
    assert sum(1 for line in service_log if not json.loads(line)["log"].endswith("\n")) == 2
    orders_log = docker_lines(json.dumps(orders_access))
    for lines in (service_log, orders_log):
        container_id = uuid.uuid4().hex * 2  # Docker's ids are 64 hex digits
        folder = containers / container_id
        folder.mkdir(parents=True)
        (folder / f"{container_id}-json.log").write_text("".join(lines))

    shipped = {r["event.id"]: r for r in (order, orders_access, big, server, last)}
    streams = dict.fromkeys(shipped, "stdout") | {server["event.id"]: "stderr"}
    return Sample(containers, shipped, streams, marker, ids["big"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def compose_command(binary: str, home: Path, port: int) -> str:
    """docker-compose.yml's Filebeat command, with this checkout's paths."""
    script: str = FILEBEAT_SERVICE["command"][2].replace("$$", "$")
    flags = [
        f"--path.home {shlex.quote(str(home))}",
        f"--path.config {shlex.quote(str(REPO / 'filebeat'))}",
        f"--path.data {shlex.quote(str(home / 'data'))}",
        f"--path.logs {shlex.quote(str(home / 'logs'))}",
    ]
    replaced = (
        script.replace("/secrets/", f"{REPO}/.secrets/")
        .replace("exec filebeat", f"exec {shlex.quote(binary)} " + " ".join(flags))
        .replace("http.port=5066", f"http.port={port}")
    )
    assert replaced.count(str(REPO / ".secrets")) == 1 and f"http.port={port}" in replaced
    return replaced


@dataclass
class RunningFilebeat:
    process: subprocess.Popen[bytes]
    port: int
    output: Path

    def log(self) -> str:
        return self.output.read_text(errors="replace")


@pytest.fixture
def filebeat(tmp_path: Path, stack: Stack) -> Iterator[tuple[RunningFilebeat, Sample]]:
    built = subprocess.run(
        [str(REPO / "native" / "build-filebeat.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    binary = built.stdout.strip()
    sample = write_sample(tmp_path / "containers")
    port = free_port()
    env = (
        os.environ
        | {key: str(value) for key, value in FILEBEAT_SERVICE["environment"].items()}
        | {
            "ES_HOSTS": "http://127.0.0.1:9200",
            "TRACKSTACK_CONTAINER_LOG_GLOB": str(sample.containers / "*" / "*-json.log*"),
        }
    )
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
    line whole, other programs' lines dropped, no JSON decoding errors."""
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
