"""The fault driver: the soak's load watcher, its faults (Elasticsearch stopped, Filebeat
SIGKILLed, log rotations, 500 bursts) and Docker's json-file mode (the relay)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO
from urllib.parse import quote

import requests

from elasticsearch import Elasticsearch
from loadgen import USER_AGENT, manifest, report
from loadgen.dockerlog import Relay
from loadgen.load import ManifestTail
from loadgen.manifest import Record, Sighting
from loadgen.watch import Watcher, now_ms, present
from setup.project import REPO, PollTimeout, poll_until
from soak import SoakError, say
from soak.ledger import LOG_DIR

POLL_S = 0.25  # searches for pending IDs, as `make load` does
DRAIN_CAP_S = 120.0  # longest wait for the backlog between faults
GAP_S = 3.0  # steady load between one fault's drained backlog and the next fault
BURST_GAP_S = 2.0
# A rotation's row counts the IDs sent from 1 s before to 2 s after it: the lines that were
# being written to the old file while it was renamed and the new one opened.
ROTATION_BEFORE_MS, ROTATION_AFTER_MS = 1000.0, 2000.0
MAX_REQUEST_LINE = 4094  # gunicorn's limit_request_line (service/gunicorn.conf.py)


@dataclass(frozen=True)
class Options:
    rate: float = 50.0
    duration_s: int = 300
    es_at_s: float = 30.0
    es_outage_s: float = 60.0
    es_node: int | None = None  # stop only this node of a cluster (native/elasticsearch.sh stop I)
    filebeat_down_s: float = 5.0
    rotations: int = 12
    bursts: int = 3
    burst_size: int = 50
    detail_bytes: int = 3500
    settle_s: float = 180.0
    runs_root: Path = field(default_factory=manifest.runs_root)
    service_url: str = "http://127.0.0.1:8000"
    mode: str = "native"  # or "compose": Filebeat on Docker-like json-file logs (a relay)
    docker_max_size: int = 1024 * 1024  # compose mode: json-file max-size, bytes
    docker_max_file: int = 3  # compose mode: json-file max-file


@dataclass
class Fault:
    """One injected fault. Times are epoch ms on this machine's clock, as in the manifest."""

    kind: str  # es-outage | filebeat-kill | rotation | burst
    start_ms: float  # the fault began (stop/kill/rename issued, first burst request sent)
    end_ms: float  # the broken part is back (ES answers, Filebeat runs, last burst answer)
    note: str = ""
    ids: tuple[str, ...] = ()  # tracking IDs the fault's own requests got (bursts)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


# --- what a fault's recovery took ------------------------------------------------------------


@dataclass(frozen=True)
class Recovery:
    resumed_s: float | None  # fault over -> first search finding an ID sent after it
    drained_s: float | None  # fault over -> last ID sent during it found (None: one never was)
    backlog: int  # IDs sent during the fault


def recovery(fault: Fault, sent: Mapping[str, float], seen: Mapping[str, float]) -> Recovery:
    """From first sightings (``seen``: ID -> start of the first search that found it)."""
    during = set(fault.ids) | {i for i, t in sent.items() if fault.start_ms <= t <= fault.end_ms}
    after = [seen[i] for i, t in sent.items() if t > fault.end_ms and i in seen]
    resumed = (min(after) - fault.end_ms) / 1000 if after else None
    drained: float | None = None
    if during and all(i in seen for i in during):
        drained = max(0.0, (max(seen[i] for i in during) - fault.end_ms) / 1000)
    return Recovery(resumed, drained, len(during))


def ids_in(fault: Fault, sent: Mapping[str, float]) -> list[str]:
    """The tracking IDs a fault's row accounts for: its own requests and those sent during it
    (a rotation: from ROTATION_BEFORE_MS before to ROTATION_AFTER_MS after)."""
    start, end = fault.start_ms, fault.end_ms
    if fault.kind == "rotation":
        start, end = start - ROTATION_BEFORE_MS, end + ROTATION_AFTER_MS
    return list(dict.fromkeys([*fault.ids, *(i for i, t in sent.items() if start <= t <= end)]))


def rotation_times(t0_ms: float, duration_s: float, count: int) -> list[float]:
    """``count`` moments spread evenly over the load, neither at its start nor its end."""
    step = duration_s * 1000 / (count + 1)
    return [t0_ms + step * (k + 1) for k in range(count)]


def large_detail(size: int) -> str:
    """An /api/error ``detail`` about ``size`` bytes long once URL-encoded.

    The handler keeps 256 characters for the exception; made of emoji, quotes and
    backslashes (12, 2 and 2 bytes each as escaped JSON), the error line has them twice
    (error.message and the stack trace's last line); with ``depth=400`` its stack trace
    alone is over the 64 KiB line bound, so the line is cut with both ends kept.
    """
    head = ('\U0001f600\U0001f600\U0001f600"\\' * 52)[:256]
    pad = max(0, min(size, MAX_REQUEST_LINE - 200) - len(quote(head)))
    return head + "x" * pad


# --- the parts that touch the stack ----------------------------------------------------------


class Native:
    """Runs native/<script> commands, each logged to faults.log with its output."""

    def __init__(self, log: TextIO) -> None:
        self.log = log

    def __call__(self, script: str, *args: str, timeout_s: float = 300) -> None:
        command = f"native/{script} {' '.join(args)}"
        started = time.monotonic()
        try:
            result = subprocess.run(
                [str(REPO / "native" / script), *args],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SoakError(f"{command} did not finish within {timeout_s:g} s") from exc
        self.log.write(
            f"--- {time.strftime('%H:%M:%S')} {command}: exit {result.returncode}"
            f" in {time.monotonic() - started:.1f} s\n{result.stdout}{result.stderr}"
        )
        self.log.flush()
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-10:])
            raise SoakError(f"{command} failed (exit {result.returncode}):\n{tail}")


class Watch(threading.Thread):
    """Which tracking IDs are searchable yet: one search for all pending IDs every POLL_S,
    for the load's IDs as Locust writes them and the bursts' as they are answered. Searches
    fail while Elasticsearch is down; the next one tries again."""

    def __init__(self, es: Elasticsearch, out: TextIO) -> None:
        super().__init__(name="soak-watch", daemon=True)
        self.lock = threading.Lock()
        self.watcher = Watcher(lambda ids, since: present(es, ids, since), out)
        self.tail: ManifestTail | None = None
        self.records: list[Record] = []
        self.sent: dict[str, float] = {}  # tracking ID -> first send
        self.failed_searches = 0
        self.halt = threading.Event()

    def follow(self, path: Path) -> None:
        self.tail = ManifestTail(path)

    def add(self, records: Sequence[Record]) -> None:
        with self.lock:
            self._add(records)

    def _add(self, records: Sequence[Record]) -> None:
        self.records.extend(records)
        for record in records:
            if record.tracking_id:
                self.sent.setdefault(record.tracking_id, record.sent_ms)
        self.watcher.add(records)

    def run(self) -> None:
        while not self.halt.is_set():
            self.step()
            self.halt.wait(POLL_S)

    def step(self) -> None:
        with self.lock:
            if self.tail is not None:
                self._add(self.tail.read())
            try:
                self.watcher.poll()
            except Exception:  # Elasticsearch down or restarting: that is the point
                self.failed_searches += 1

    def stop(self) -> None:
        self.halt.set()
        self.join()
        self.step()  # the last lines Locust wrote, one last look
        if self.tail is not None:
            self.tail.close()

    def all_records(self) -> list[Record]:
        with self.lock:
            return list(self.records)

    def first_sent_ms(self) -> float | None:
        with self.lock:
            return min(self.sent.values(), default=None)

    def pending_sent_by(self, ms: float) -> int:
        with self.lock:
            return sum(1 for i in self.watcher.pending if self.sent.get(i, 0) <= ms)

    def sightings(self) -> dict[str, Sighting]:
        with self.lock:
            return dict(self.watcher.sightings)


def burst_request(
    service_url: str, path: str, tracking_id: str, seq: int, start: threading.Barrier
) -> Record:
    start.wait(timeout=30)
    sent_ms = now_ms()
    status, returned, error = 0, None, None
    try:
        response = requests.get(
            service_url + path,
            headers={"X-Tracking-ID": tracking_id, "User-Agent": USER_AGENT},
            timeout=30,
        )
        status, returned = response.status_code, response.headers.get("X-Tracking-ID")
        if status != 500:
            error = f"status {status}, expected 500"
    except requests.RequestException as exc:
        error = f"no response: {exc}"
    return Record.of_response(
        seq=seq,
        entry="burst",
        endpoint="error",
        method="GET",
        path=path,
        sent_id=tracking_id,
        returned_id=returned,
        debug=False,
        status=status,
        expected_status=500,
        sent_ms=sent_ms,
        received_ms=now_ms(),
        error=error,
    )


# --- one run ----------------------------------------------------------------------------------


class Soak:
    def __init__(self, options: Options, folder: Path, native: Native, watch: Watch) -> None:
        self.options = options
        self.folder = folder
        self.native = native
        self.watch = watch
        self.faults: list[Fault] = []
        self.bursts: list[Record] = []
        self.lock = threading.Lock()
        self.es_down = False
        self.filebeat_down = False
        self.t0_ms = 0.0
        self.problems: list[str] = []  # injected faults that went wrong (the run still ends)
        self.relay: Relay | None = None  # compose mode: rotations are Docker's

    def record(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)
            with (self.folder / "faults.jsonl").open("a") as out:
                out.write(fault.to_json() + "\n")
        took = (fault.end_ms - fault.start_ms) / 1000
        self.announce(f"{fault.kind} over after {took:.1f} s: {fault.note}")

    def sleep_until(self, epoch_ms: float) -> None:
        time.sleep(max(0.0, (epoch_ms - now_ms()) / 1000))

    def wait_drained(self, until_ms: float) -> None:
        with contextlib.suppress(PollTimeout):  # not drained in time: said below, going on
            poll_until(
                lambda: not self.watch.pending_sent_by(until_ms),
                DRAIN_CAP_S,
                "the backlog",
                POLL_S,
                retry_on=(),
            )
        left = self.watch.pending_sent_by(until_ms)
        if left:
            self.announce(f"{left} IDs still not searchable after {DRAIN_CAP_S:g} s; going on")
        else:
            self.announce("backlog drained")

    def announce(self, text: str) -> None:
        say(f"[{(now_ms() - self.t0_ms) / 1000:5.1f}s] {text}")

    def es_outage(self) -> None:
        node = self.options.es_node
        what = "Elasticsearch" if node is None else f"Elasticsearch node {node}"
        self.announce(f"stopping {what} for {self.options.es_outage_s:g} s")
        start = now_ms()
        self.es_down = True
        self.native("elasticsearch.sh", "stop", *([] if node is None else [str(node)]))
        stopped = now_ms()
        self.sleep_until(start + self.options.es_outage_s * 1000)
        restart = now_ms()
        self.native("elasticsearch.sh", "start")
        self.es_down = False
        end = now_ms()
        self.record(
            Fault(
                "es-outage",
                start,
                end,
                ("" if node is None else f"node {node} ")
                + f"stopped in {(stopped - start) / 1000:.1f} s, start issued after"
                f" {(restart - start) / 1000:.1f} s, answering {(end - restart) / 1000:.1f} s"
                " later",
            )
        )

    def filebeat_kill(self) -> None:
        self.announce("SIGKILL to Filebeat")
        start = now_ms()
        self.filebeat_down = True
        self.native("filebeat.sh", "kill")
        time.sleep(self.options.filebeat_down_s)
        restart = now_ms()
        self.native("filebeat.sh", "start")
        self.filebeat_down = False
        # Over when the new process runs: its recovery is measured from there, not from when
        # filebeat.sh saw the connection in its log.
        self.record(
            Fault(
                "filebeat-kill",
                start,
                restart,
                f"SIGKILL, started again after {(restart - start) / 1000:.1f} s (filebeat.sh"
                f" saw it connected {(now_ms() - restart) / 1000:.1f} s later)",
            )
        )

    def burst(self, number: int) -> None:
        detail = large_detail(self.options.detail_bytes)
        # 400 levels deep: a stack trace over the 64 KiB line bound (service/api.py).
        path = "/api/error?depth=400&detail=" + quote(detail)
        size = self.options.burst_size
        start = threading.Barrier(size)
        run_id = self.folder.name.removeprefix("soak-")
        ids = [f"soak-{run_id}-b{number}-{i:03d}" for i in range(size)]
        with ThreadPoolExecutor(size) as pool:
            records = list(
                pool.map(
                    lambda i: burst_request(
                        self.options.service_url, path, ids[i], 100_000 * (number + 1) + i, start
                    ),
                    range(size),
                )
            )
        self.watch.add(records)
        with (self.folder / "bursts.jsonl").open("a") as out:
            out.writelines(r.to_json() + "\n" for r in records)
        self.bursts.extend(records)
        failed = [r for r in records if not report.is_ok(r)]
        if failed:
            self.problems.append(f"burst {number + 1}: {len(failed)} requests: {failed[0].error}")
        self.record(
            Fault(
                "burst",
                min(r.sent_ms for r in records),
                max(r.received_ms for r in records),
                f"{size} concurrent GET /api/error, detail {len(quote(detail))} bytes,"
                f" {sum(r.status == 500 for r in records)} answered 500",
                tuple(r.tracking_id for r in records if r.tracking_id),
            )
        )

    def rotate_all(self, times: Sequence[float], halt: threading.Event) -> None:
        for at in times:
            if halt.wait(max(0.0, (at - now_ms()) / 1000)):
                return
            start = now_ms()
            if self.relay is not None:
                self.relay.rotate()
                self.record(Fault("rotation", start, now_ms(), "json-file: .1 -> .2, live -> .1"))
                continue
            try:
                self.native("service.sh", "rotate", timeout_s=30)
            except SoakError as exc:
                self.problems.append(f"rotation: {exc}")
                continue
            self.record(Fault("rotation", start, now_ms(), "renamed + SIGUSR1"))

    def inject(self) -> None:
        """Faults 1, 2 and 4 in order (the rotations run on their own thread)."""
        self.sleep_until(self.t0_ms + self.options.es_at_s * 1000)
        if self.options.es_outage_s > 0:
            self.es_outage()
            self.wait_drained(self.faults[-1].end_ms)
            time.sleep(GAP_S)
        if self.options.filebeat_down_s >= 0:
            self.filebeat_kill()
            self.wait_drained(self.faults[-1].end_ms)
            time.sleep(GAP_S)
        for number in range(self.options.bursts):
            if number:
                time.sleep(BURST_GAP_S)
            self.burst(number)

    def restore(self) -> None:
        """After an interruption: whatever this run stopped runs again."""
        for down, script in (
            (self.es_down, "elasticsearch.sh"),
            (self.filebeat_down, "filebeat.sh"),
        ):
            if down:
                try:
                    self.native(script, "start")
                except SoakError as exc:
                    say(f"could not restore: {exc}")


class RelayThread(threading.Thread):
    """Compose mode: pumps the service's log lines into the Docker-like container logs."""

    def __init__(self, relay: Relay, every_s: float = 0.05) -> None:
        super().__init__(name="soak-docker-relay", daemon=True)
        self.relay = relay
        self.every_s = every_s
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.relay.pump()
            self.halt.wait(self.every_s)

    def stop(self) -> None:
        self.halt.set()
        self.join()
        self.relay.pump()
        self.relay.close()


def compose_mode(
    options: Options, native: Native, since: Mapping[tuple[int, int], int]
) -> RelayThread:
    """Native Filebeat off, the relay on, compose-mode Filebeat on (.run/containers/).

    The relay starts where the ledger starts (``since``), so no line of the run is missed
    while the native Filebeat stops; one both ship is one document (_id = event.id)."""
    native("filebeat.sh", "stop")
    sources = sorted(p for p in LOG_DIR.glob("*.ndjson"))
    if not sources:
        raise SoakError(f"no service log files in {LOG_DIR}")
    containers = REPO / ".run" / "containers"
    shutil.rmtree(containers, ignore_errors=True)  # an earlier run's containers: removed
    offsets = {}
    for source in sources:
        info = source.stat()
        offsets[source] = since.get((info.st_dev, info.st_ino), 0)
    relay = Relay(sources, containers, options.docker_max_size, options.docker_max_file, offsets)
    thread = RelayThread(relay)
    thread.start()
    os.environ["FILEBEAT_MODE"] = "compose"  # every filebeat.sh call from here on
    native("filebeat.sh", "start")
    say(
        f"compose mode: {len(sources)} containers in .run/containers/ (json-file, max-size"
        f" {options.docker_max_size} B, max-file {options.docker_max_file}); Filebeat reads them"
    )
    return thread


def native_mode(native: Native, relay: RelayThread | None) -> None:
    """Back from compose mode: compose-mode Filebeat off, the relay off, native Filebeat on."""
    if relay is None:
        return
    native("filebeat.sh", "stop")
    relay.stop()
    os.environ.pop("FILEBEAT_MODE", None)
    native("filebeat.sh", "start")
