"""What tests share besides fixtures: tests import these from here, never from another test
module or a conftest (fixtures stay in the conftest.py files, which use these too)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from elasticsearch import Elasticsearch
from loadgen.dockerlog import messages
from loadgen.manifest import Record
from setup.project import INDEX_PATTERN, REPO
from trackstack import Settings, configure_logging

DEBUG_TOKEN = "let-me-debug-0123456789"
Lines = Callable[[], list[dict[str, Any]]]


def expand_dotted(line: dict[str, Any]) -> dict[str, Any]:
    """A line as Elasticsearch stores it (Filebeat expand_keys): {"a.b": 1} -> {"a": {"b": 1}}."""
    out: dict[str, Any] = {}
    for key, value in line.items():
        *parents, leaf = key.split(".") if key != "@timestamp" else [key]
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf].update(value)
        else:
            node[leaf] = value
    return out


def parse_line(raw: str | bytes) -> dict[str, Any]:
    """One output line, which must be one JSON object; both as written and expanded."""
    value = json.loads(raw)
    assert isinstance(value, dict), f"not a JSON object: {raw[:200]!r}"
    return expand_dotted(value) | value


@contextmanager
def captured_lines(path: Path, settings: Settings) -> Iterator[Lines]:
    """Logging configured by trackstack into ``path``; yields a function returning every line
    written so far, each parsed as one JSON object. Undone on exit."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    handler = configure_logging(settings, fd=fd)

    def read() -> list[dict[str, Any]]:
        handler.flush()
        return [parse_line(line) for line in path.read_text().splitlines()]

    try:
        yield read
    finally:
        logging.getLogger().removeHandler(handler)
        handler.flush()
        os.close(fd)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM first: a SIGKILLed uvicorn manager leaves its workers running, orphaned."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def record(
    endpoint: str = "names",
    tracking_id: str | None = "0f8fad5b-d9cb-469f-a165-70867728950e",
    latency_ms: float = 12.5,
    **overrides: Any,
) -> Record:
    """A manifest record as the Locust side makes it (loadgen's and soak's tests use it)."""
    sent_ms = overrides.pop("sent_ms", 1_000.0)
    values: dict[str, Any] = {
        "seq": 1,
        "entry": endpoint,
        "endpoint": endpoint,
        "method": "GET",
        "path": f"/api/{endpoint}",
        "sent_id": None,
        "returned_id": tracking_id,
        "debug": False,
        "status": 200,
        "expected_status": 200,
        "sent_ms": sent_ms,
        "received_ms": sent_ms + latency_ms,
    }
    return Record.of_response(**(values | overrides))


# --- the native stack (tests/e2e) ----------------------------------------------------------

SERVICE = "http://127.0.0.1:8000"
ORDERS = "http://127.0.0.1:8001"


# `python -m loadgen verify`'s verdict line
VERIFIED = re.compile(r"verified (\d+)/(\d+) tracking IDs")


def loadgen(*args: str, timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
    """``python -m loadgen <args>`` in the repository (load, verify, trace), its output kept."""
    return subprocess.run(
        [sys.executable, "-m", "loadgen", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def native(*args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "native" / args[0]), *args[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@dataclass
class Stack:
    es: Elasticsearch  # as elastic: tests also look at what a reader cannot

    def docs(self, query: dict[str, Any], size: int = 1000) -> list[dict[str, Any]]:
        self.es.indices.refresh(index=INDEX_PATTERN)
        hits = self.es.search(
            index=INDEX_PATTERN, query=query, size=size, sort=["@timestamp", "log.offset"]
        )
        return [hit["_source"] | {"_id": hit["_id"]} for hit in hits["hits"]["hits"]]

    def by_id(self, tracking_id: str, field: str = "tracking_id") -> list[dict[str, Any]]:
        return self.docs({"term": {field: tracking_id}})

    def count(self, query: dict[str, Any]) -> int:
        self.es.indices.refresh(index=INDEX_PATTERN)
        return int(self.es.count(index=INDEX_PATTERN, query=query)["count"])


# --- compose's Filebeat on Docker-like logs (tests/e2e/test_compose_*.py) -------------------

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


def filebeat_binary() -> str:
    """The Filebeat native/build-filebeat.sh builds (cached in .cache/ after the first time)."""
    built = subprocess.run(
        [str(REPO / "native" / "build-filebeat.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return built.stdout.strip()


def compose_filebeat_env(containers: Path) -> dict[str, str]:
    """docker-compose.yml's Filebeat environment, on this Elasticsearch and these containers."""
    return (
        dict(os.environ)
        | {key: str(value) for key, value in FILEBEAT_SERVICE["environment"].items()}
        | {
            "ES_HOSTS": "http://127.0.0.1:9200",
            "TRACKSTACK_CONTAINER_LOG_GLOB": str(containers / "*" / "*-json.log*"),
        }
    )


class AsgiClient:
    """Requests into the ASGI app in this process (httpx's ASGITransport, one event loop per
    call): the app runs in the calling task, as under a server."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.get(path, headers=headers)

        return asyncio.run(call())


def long_trace_depth(target: int = 44 * 1024) -> int:
    """How many levels deep /api/error must fail (service/api.py ``_fail_deep``) for a stack
    trace of about ``target`` bytes from this checkout.

    Every frame names service/api.py by its full path, so the bytes per level follow where
    the checkout lives (a fixed depth of 240 gave 47 KB under /work/main and over 48 KiB in
    a CI checkout with a longer path). Measured here by failing 10 and 20 levels deep; the
    default leaves 20 KiB under the service's 64 KiB line bound for the JSON around it and
    Flask's own frames.
    """
    import traceback

    from service.api import MAX_ERROR_DEPTH, _fail_deep

    def size(depth: int) -> int:
        try:
            _fail_deep(depth, "measure")
        except RuntimeError as exc:
            return len("".join(traceback.format_exception(exc)).encode())
        raise AssertionError("_fail_deep returned")

    per_level = (size(20) - size(10)) / 10
    return min(MAX_ERROR_DEPTH, round(target / per_level))


class CpuQuota:
    """Caps processes at ``cores`` of CPU each, one cgroup per process (the kernel's CFS
    bandwidth control: cgroup v1 ``cpu.cfs_quota_us``/``cpu.cfs_period_us``, or v2
    ``cpu.max``), so a test can make one process the bottleneck on purpose.

    The cpu controller is found in /proc/self/mountinfo; where it is not mounted (``ip netns
    exec`` gives its command a fresh /sys without cgroups), it is mounted on a temporary
    folder, visible only in this mount namespace. ``period_us`` is short (10 ms) so a capped
    process runs in small slices instead of bursts followed by 100 ms stalls. Needs root;
    raises ``RuntimeError`` saying what is missing. ``close()`` moves the processes back to
    the root group, removes the groups and unmounts what it mounted.
    """

    def __init__(self, cores: float, period_us: int = 10_000) -> None:
        self.quota_us, self.period_us = round(cores * period_us), period_us
        self.groups: dict[int, Path] = {}
        self.mounted: Path | None = None
        found = self._controller()
        if found is None:
            found = self._mount()
        self.root, self.v2 = found

    @staticmethod
    def _controller() -> tuple[Path, bool] | None:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            fstype, _, options = right.split()[:3]
            mount_point = Path(left.split()[4])
            if fstype == "cgroup" and "cpu" in options.split(","):
                return mount_point, False
            controllers = mount_point / "cgroup.subtree_control"
            if fstype == "cgroup2" and controllers.exists():
                if "cpu" in controllers.read_text().split():
                    return mount_point, True
        return None

    def _mount(self) -> tuple[Path, bool]:
        folder = Path(tempfile.mkdtemp(prefix="trackstack-cgroup-"))
        for argv, v2 in ((["-t", "cgroup", "-o", "cpu"], False), (["-t", "cgroup2"], True)):
            mounted = subprocess.run(
                ["mount", *argv, "cgroup", str(folder)], capture_output=True, text=True
            )
            if mounted.returncode == 0:
                self.mounted = folder
                return folder, v2
        folder.rmdir()
        raise RuntimeError(f"no cgroup cpu controller and cannot mount one: {mounted.stderr}")

    def cap(self, pid: int) -> None:
        group = self.root / f"trackstack-test-{os.getpid()}-{pid}"
        group.mkdir(exist_ok=True)
        if self.v2:
            (group / "cpu.max").write_text(f"{self.quota_us} {self.period_us}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(self.period_us))
            (group / "cpu.cfs_quota_us").write_text(str(self.quota_us))
        try:
            (group / "cgroup.procs").write_text(str(pid))
        except ProcessLookupError:
            pass  # it ended already
        self.groups[pid] = group

    def close(self) -> None:
        for group in self.groups.values():
            procs = group / "cgroup.procs"
            for pid in procs.read_text().split() if procs.exists() else []:
                try:
                    (self.root / "cgroup.procs").write_text(pid)
                except ProcessLookupError:
                    pass
            group.rmdir()
        self.groups.clear()
        if self.mounted is not None:
            subprocess.run(["umount", str(self.mounted)], check=True)
            self.mounted.rmdir()
            self.mounted = None
