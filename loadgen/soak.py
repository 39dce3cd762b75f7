"""`make soak`: steady load while the pipeline is broken on purpose, then a line-by-line ledger.

While ``python -m loadgen load`` sends the mix at a steady rate, one run injects, in order:

1. Elasticsearch stopped for ``--es-outage`` seconds, then started (native/elasticsearch.sh);
   with ``--es-node I`` only node I of a cluster (``ES_NODES``), the others keep serving;
2. Filebeat killed with SIGKILL, started again ``--filebeat-down`` seconds later;
3. the service's log files rotated ``--rotations`` times, evenly over the whole load, so
   some rotations land inside the faults above (native/service.sh rotate: rename + SIGUSR1);
4. ``--bursts`` bursts of ``--burst-size`` concurrent 500s (/api/error) whose access and
   error lines exceed the service's 4096-byte line bound, so they are written cut.

After each of 1 and 2 it waits (up to DRAIN_CAP_S) until every ID sent so far is searchable,
so the next fault starts from a drained pipeline. Meanwhile it searches Elasticsearch four
times a second for the IDs not yet found, to time recovery. Then the ledger
(loadgen.soak_ledger): per fault and for the whole run, the lines the service wrote (every
.run/logs/*.ndjson* file, rotated ones too) against the documents, lost and duplicated, and
documents Filebeat could not decode. Exit 0 only if nothing was lost, doubled or undecodable.

``--mode compose`` (``make soak MODE=compose``) runs the same soak through Filebeat's compose
mode: the native Filebeat is stopped, a relay (loadgen.dockerlog.Relay) copies every line the
service writes into ``.run/containers/<64-hex id>/<id>-json.log`` exactly as Docker's
json-file driver would (envelope, max-size/max-file rotation: ``--docker-max-size``,
``--docker-max-file``), and Filebeat runs with inputs.d/compose.yml on that directory
(native/filebeat.sh with FILEBEAT_MODE=compose). The rotations of 3. are then Docker's (the
live file renamed to .1, .1 to .2, the oldest deleted, a new file), besides those max-size
causes. Afterwards the native Filebeat runs again.

Needs the native stack (`make native-up`): the faults are its scripts. The run folder
``runs/soak-<UTC time>/`` holds the load's own run folder, bursts.jsonl (the burst requests,
manifest format), faults.jsonl (what happened when), searchable.jsonl, faults.log (the
scripts' output), load.log and soak.txt (what this printed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO
from urllib.parse import quote

import requests

from elasticsearch import Elasticsearch
from loadgen import USER_AGENT, deadletter, manifest, report
from loadgen.dockerlog import Relay
from loadgen.elastic import REPO, connect
from loadgen.expectations import Check
from loadgen.load import ManifestTail
from loadgen.manifest import Record, Sighting
from loadgen.soak_ledger import (
    FILEBEAT_OUT,
    LOG_DIR,
    Balance,
    Lines,
    Tally,
    balances,
    decode_errors,
    filebeat_events,
    read_lines,
    search_dead,
    search_found,
    snapshot,
    unmatched_lines,
)
from loadgen.verify import Expected, expected_by_id
from loadgen.watch import SLACK_MS, Watcher, now_ms, present

POLL_S = 0.25  # searches for pending IDs, as `make load` does
DRAIN_CAP_S = 120.0  # longest wait for the backlog between faults
GAP_S = 3.0  # steady load between one fault's drained backlog and the next fault
BURST_GAP_S = 2.0
LEDGER_POLL_S = 2.0
# A rotation's row counts the IDs sent from 1 s before to 2 s after it: the lines that were
# being written to the old file while it was renamed and the new one opened.
ROTATION_BEFORE_MS, ROTATION_AFTER_MS = 1000.0, 2000.0
# Lines written this long before Elasticsearch or Filebeat went down may not have been shipped
# yet: timings outside the faults leave them out too.
OUTAGE_LEAD_MS = 5000.0
# Undecodable documents carry Filebeat's read time; look this long after each fault for them.
DECODE_LOOKAHEAD_MS = 30_000.0
MAX_REQUEST_LINE = 4094  # gunicorn's limit_request_line (service/gunicorn.conf.py)
# A burst's ERROR line is cut to the line bound; its stack trace must still start as one.
TRACE_HEAD = Check(
    "trace head",
    "ERROR whose cut error.stack_trace still starts with its Traceback line",
    {
        "bool": {
            "filter": [
                {"term": {"log.level": "error"}},
                {"match_phrase": {"error.stack_trace": "Traceback most recent call last"}},
            ]
        }
    },
)
SHOW_LOST = 10


class SoakError(Exception):
    """The soak could not run as planned (a script failed, the stack is not up)."""


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
    backslashes (12, 2 and 2 bytes each as escaped JSON) they put the error line, which has
    them twice (error.message and the stack trace's last line), over the 4096-byte bound.
    The access line's url.query keeps the whole detail, so it is over the bound too.
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
        deadline = time.monotonic() + DRAIN_CAP_S
        while self.watch.pending_sent_by(until_ms) and time.monotonic() < deadline:
            time.sleep(POLL_S)
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
        path = "/api/error?detail=" + quote(detail)
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


def say(text: str) -> None:
    print(f"soak: {text}", file=sys.stderr, flush=True)


def _preflight(options: Options) -> str | None:
    for script, args in (("elasticsearch.sh", ["status"]), ("filebeat.sh", ["status"])):
        result = subprocess.run(
            [str(REPO / "native" / script), *args], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            return f"the native stack is not running ({script} status): make native-up"
    try:
        if not requests.get(f"{options.service_url}/api/health", timeout=5).ok:
            return f"{options.service_url}/api/health does not answer 200"
    except requests.RequestException as exc:
        return f"service not reachable at {options.service_url}: {exc}"
    if not (REPO / ".run" / "service").is_dir():
        return "the service was not started by native/service.sh: make native-up"
    return None


def _load_command(options: Options, folder: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "loadgen",
        "load",
        "--rate",
        f"{options.rate:g}",
        "--duration",
        str(options.duration_s),
        "--runs-dir",
        str(folder),
        "--no-watch",  # this process watches, the bursts' IDs too
        "--settle",
        "0",
    ]


def _wait_for(what: str, check: Callable[[], object], timeout_s: float, every_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SoakError(f"no {what} after {timeout_s:g} s")
        time.sleep(every_s)


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


def _compose_mode(
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


def _native_mode(native: Native, relay: RelayThread | None) -> None:
    """Back from compose mode: compose-mode Filebeat off, the relay off, native Filebeat on."""
    if relay is None:
        return
    native("filebeat.sh", "stop")
    relay.stop()
    os.environ.pop("FILEBEAT_MODE", None)
    native("filebeat.sh", "start")


def run(options: Options) -> int:
    problem = _preflight(options)
    if problem:
        print(f"soak: {problem}", file=sys.stderr)
        return 2
    if options.mode not in ("native", "compose"):
        print(f"soak: --mode must be native or compose, not {options.mode!r}", file=sys.stderr)
        return 2
    folder = options.runs_root / f"soak-{manifest.run_id()}"
    folder.mkdir(parents=True)
    say(f"run folder {manifest.shown(folder)}")
    (folder / "options.json").write_text(
        json.dumps(asdict(options) | {"runs_root": str(options.runs_root)}, indent=2) + "\n"
    )
    since = snapshot()
    filebeat_since = FILEBEAT_OUT.stat().st_size if FILEBEAT_OUT.is_file() else 0
    started_ms = now_ms()
    es = connect(timeout_s=5)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with (
        (folder / "faults.log").open("a") as faults_log,
        (folder / manifest.SEARCHABLE).open("a") as sightings_out,
        (folder / "load.log").open("w") as load_log,
    ):
        native = Native(faults_log)
        watch = Watch(es, sightings_out)
        soak = Soak(options, folder, native, watch)
        relay: RelayThread | None = None
        if options.mode == "compose":
            try:
                relay = _compose_mode(options, native, since)
            except SoakError as exc:
                say(f"stopping: {exc}")
                _native_mode(native, relay)
                return 2
            soak.relay = relay.relay
        load = subprocess.Popen(
            _load_command(options, folder), cwd=REPO, stdout=load_log, stderr=subprocess.STDOUT
        )
        halt = threading.Event()
        rotator: threading.Thread | None = None
        try:
            _wait_for("load run folder", lambda: list(folder.glob("*/run.json")), 30, 0.1)
            load_dir = next(folder.glob("*/run.json")).parent
            watch.follow(load_dir / manifest.MANIFEST)
            watch.start()
            _wait_for("request from the load", lambda: watch.first_sent_ms(), 60, 0.05)
            soak.t0_ms = watch.first_sent_ms() or now_ms()
            say(
                f"load running ({options.rate:g} req/s for {options.duration_s} s, log:"
                f" {manifest.shown(folder / 'load.log')}); faults follow"
            )
            times = rotation_times(soak.t0_ms, options.duration_s, options.rotations)
            rotator = threading.Thread(target=soak.rotate_all, args=(times, halt), daemon=True)
            rotator.start()
            soak.inject()
            rotator.join()
            load.wait(timeout=options.duration_s + 120)
        except (KeyboardInterrupt, SoakError) as exc:
            halt.set()
            load.send_signal(signal.SIGINT)
            say(f"stopping: {str(exc) or 'interrupted'}; restoring what was stopped")
            soak.restore()
            try:
                load.wait(timeout=60)
            except subprocess.TimeoutExpired:
                load.kill()
            if rotator is not None:
                rotator.join()
            watch.halt.set()
            _native_mode(native, relay)
            return 2
        say(f"load finished (exit {load.returncode}); ledger: counting lines and documents")
        ledger = settle(es, watch.all_records(), since, options.settle_s)
        watch.stop()
        _native_mode(native, relay)
    ledger.undecodable = decode_errors(es, decode_windows(soak.faults, started_ms, now_ms()))
    ledger.filebeat = filebeat_events(filebeat_since)
    lines = summary(options, folder, load_dir, soak, watch, ledger)
    print("\n".join(lines))
    (folder / "soak.txt").write_text("\n".join(lines) + "\n")
    return 0 if ledger.ok and not soak.problems else 1


# --- the ledger and the report ----------------------------------------------------------------


@dataclass
class Ledger:
    expected: dict[str, Expected]
    lines: Lines
    balance: dict[str, Balance]
    waited_s: float
    lost_detail: list[str]
    dead_letters: int = 0  # documents in the dead-letter index since the run began
    undecodable: dict[str, int] = field(default_factory=dict)  # decode_windows' names
    filebeat: Counter[str] = field(default_factory=Counter)  # soak_ledger.filebeat_events

    @property
    def whole(self) -> Tally:
        return Tally.of(self.balance, self.balance)

    @property
    def ok(self) -> bool:
        return not (
            self.whole.lost_ids
            or self.whole.duplicated
            or self.dead_letters
            or self.undecodable.get("run", 0)
            or self.lines.not_json
            or self.lines.repeated
        )


def settle(
    es: Elasticsearch,
    records: Sequence[Record],
    since: Mapping[tuple[int, int], int],
    settle_s: float,
) -> Ledger:
    """Counts lines and documents until every ID balances or ``settle_s`` has passed."""
    expected = expected_by_id(records)
    for record in records:
        if record.entry == "burst" and record.tracking_id:
            expected[record.tracking_id].checks[TRACE_HEAD.key] = TRACE_HEAD
    since_ms = min((r.sent_ms for r in records), default=now_ms()) - SLACK_MS
    began = time.monotonic()
    pending = list(expected.values())
    while pending and time.monotonic() - began < settle_s:
        found = search_found(es, pending, since_ms)
        dead = search_dead(es, [i.tracking_id for i in pending], since_ms)
        balance = balances(
            {i.tracking_id: i for i in pending}, read_lines(expected, since), found, dead
        )
        pending = [item for item in pending if not balance[item.tracking_id].settled]
        if pending:
            time.sleep(LEDGER_POLL_S)
    # The final count, of every ID: documents first, then lines, so a line written in between
    # (a background job's last step) reads as not yet shipped, never as a duplicate.
    found = search_found(es, list(expected.values()), since_ms)
    dead = search_dead(es, list(expected), since_ms)
    # From the first request on, without the clock slack: earlier rejections are not this run's.
    dead_total = deadletter.count(es, min((r.sent_ms for r in records), default=now_ms()))
    lines = read_lines(expected, since)
    balance = balances(expected, lines, found, dead)
    lost_detail: list[str] = []
    for tracking_id, item in balance.items():
        if item.complete:
            continue
        if len(lost_detail) >= SHOW_LOST:
            lost_detail.append("  ... and more (soak.txt lists the first ones)")
            break
        unshipped, unknown = unmatched_lines(es, tracking_id, lines, since_ms)
        lost_detail.append(
            f"{tracking_id}: {item.lines} lines, {item.docs} documents"
            + (f", {item.dead} DEAD-LETTERED" if item.dead else "")
            + (f", lacks: {'; '.join(item.lacks)}" if item.lacks and not item.dead else "")
        )
        lost_detail += [f"  no document for the line at {where}" for where in unshipped[:5]]
        lost_detail += [f"  document _id {doc_id} matches no line" for doc_id in unknown[:5]]
    return Ledger(expected, lines, balance, time.monotonic() - began, lost_detail, dead_total)


def decode_windows(
    faults: Sequence[Fault], started_ms: float, ended_ms: float
) -> dict[str, tuple[float, float]]:
    """Time windows (epoch ms) to count undecodable documents in: each kind of fault from its
    first start to DECODE_LOOKAHEAD_MS after its last end, and the whole run ("run")."""
    windows: dict[str, tuple[float, float]] = {"run": (started_ms - SLACK_MS, ended_ms)}
    for kind in dict.fromkeys(f.kind for f in faults):
        same = [f for f in faults if f.kind == kind]
        windows[kind] = (
            min(f.start_ms for f in same) - 1000,
            max(f.end_ms for f in same) + DECODE_LOOKAHEAD_MS,
        )
    return windows


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def outages(
    faults: Sequence[Fault], sent: Mapping[str, float], seen: Mapping[str, float]
) -> list[tuple[float, float]]:
    """When Elasticsearch or Filebeat was down or still catching up: from OUTAGE_LEAD_MS
    before the fault until its backlog was drained (epoch ms). Other timings leave these out."""
    spans = []
    for fault in faults:
        if fault.kind in ("es-outage", "filebeat-kill"):
            drained = recovery(fault, sent, seen).drained_s
            spans.append((fault.start_ms - OUTAGE_LEAD_MS, fault.end_ms + 1000 * (drained or 0.0)))
    return spans


def _inside(ms: float, spans: Sequence[tuple[float, float]]) -> bool:
    return any(start <= ms <= end for start, end in spans)


def _recovery_text(kind: str, got: Sequence[Recovery], not_timed: int = 0) -> str:
    if kind in ("es-outage", "filebeat-kill"):
        back = "Elasticsearch answered" if kind == "es-outage" else "the new process started"
        one = got[0]
        return (
            f"first new line searchable {_seconds(one.resumed_s)} after {back}; backlog of"
            f" {one.backlog} IDs drained after {_seconds(one.drained_s)}"
        )
    if kind == "rotation":
        if not got:
            return f"not timed: all {not_timed} during the ES/Filebeat faults"
        resumed = [r.resumed_s for r in got if r.resumed_s is not None]
        spread = report.Spread.of(resumed)
        text = (
            "no request followed"
            if spread is None
            else f"next request searchable after p50 {spread.p50:.1f} s, max {spread.max:.1f} s"
        )
        if len(got) > len(resumed):
            text += f"; {len(got) - len(resumed)} rotations: never"
        if not_timed:
            text += f" ({not_timed} during the ES/Filebeat faults, not timed)"
        return text
    drained = [r.drained_s for r in got]
    worst = None if None in drained else max(d for d in drained if d is not None)
    return f"all burst IDs searchable within {_seconds(worst)} of the last answer"


TITLES = {
    "es-outage": "Elasticsearch stopped",
    "filebeat-kill": "Filebeat SIGKILL",
    "rotation": "log rotations",
    "burst": "500 bursts",
}


def fault_rows(
    faults: Sequence[Fault],
    sent: Mapping[str, float],
    seen: Mapping[str, float],
    ledger: Ledger,
    t0_ms: float,
) -> list[tuple[str, ...]]:
    """One row per kind of fault (rotations and bursts summed up), then the whole run."""
    busy = outages(faults, sent, seen)
    rows: list[tuple[str, ...]] = []
    for kind in dict.fromkeys(f.kind for f in faults):
        same = [f for f in faults if f.kind == kind]
        ids = [i for f in same for i in ids_in(f, sent)]
        timed = [f for f in same if kind != "rotation" or not _inside(f.start_ms, busy)]
        title = TITLES.get(kind, kind) + (f" x{len(same)}" if len(same) > 1 else "")
        if kind == "es-outage":
            # "node I stopped in ...": one node of a cluster (--es-node), the rest served
            note = same[0].note
            node = " ".join(note.split()[:2]) if note.startswith("node ") else ""
            title = f"Elasticsearch {node + ' ' if node else ''}down"
            title += f" {(same[0].end_ms - same[0].start_ms) / 1000:.0f} s"
        rows.append(
            _row(
                title,
                f"{(same[0].start_ms - t0_ms) / 1000:.1f}-{(same[-1].end_ms - t0_ms) / 1000:.1f}",
                Tally.of(ledger.balance, ids),
                ledger.undecodable.get(kind, 0),
                _recovery_text(
                    kind, [recovery(f, sent, seen) for f in timed], len(same) - len(timed)
                ),
            )
        )
    end = max(sent.values(), default=t0_ms) - t0_ms
    undecodable = ledger.undecodable.get("run", 0)
    rows.append(_row("whole run", f"0.0-{end / 1000:.1f}", ledger.whole, undecodable, ""))
    return rows


def timeline(faults: Sequence[Fault], t0_ms: float) -> list[str]:
    """What happened when, in seconds from the first request (rotations on one line)."""
    lines = ["timeline (s from the first request):"]
    for fault in sorted(faults, key=lambda f: f.start_ms):
        if fault.kind != "rotation":
            lines.append(
                f"  {(fault.start_ms - t0_ms) / 1000:6.1f}  {fault.kind}, over after"
                f" {(fault.end_ms - fault.start_ms) / 1000:.1f} s: {fault.note}"
            )
    rotations = [f"{(f.start_ms - t0_ms) / 1000:.1f}" for f in faults if f.kind == "rotation"]
    if rotations:
        lines.append(f"  rotations at {' '.join(rotations)}")
    return lines


def _row(title: str, when: str, tally: Tally, undecodable: int, recovered: str) -> tuple[str, ...]:
    return (
        title,
        when,
        str(tally.ids),
        str(tally.lines),
        str(tally.docs),
        str(tally.lost_ids),
        str(tally.duplicated),
        str(undecodable),
        recovered,
    )


HEADER = ("fault", "window s", "IDs", "lines", "docs", "lost", "dup", "undecodable", "recovery")


def summary(
    options: Options, folder: Path, load_dir: Path, soak: Soak, watch: Watch, ledger: Ledger
) -> list[str]:
    records = watch.all_records()
    load_records = [r for r in records if r.entry != "burst"]
    failures = [r for r in records if not report.is_ok(r)]
    sightings = watch.sightings()
    seen = {i: s.seen_ms for i, s in sightings.items()}
    tts = report.time_to_searchable_s(records, sightings)
    busy = outages(soak.faults, watch.sent, seen)
    calm = [s for i, s in tts.items() if not _inside(watch.sent[i], busy)]
    lines = ledger.lines
    whole = ledger.whole
    cut = sum(lines.cut.values())
    out = [
        f"soak {manifest.shown(folder)}: {len(load_records)} load requests"
        f" ({len(load_records) / options.duration_s:.1f} req/s, target {options.rate:g}) +"
        f" {len(soak.bursts)} burst requests; load folder {load_dir.name}/",
        f"lines: {lines.total} written in {lines.files} files ({lines.files_rotated} rotated),"
        f" {whole.lines} of them with this run's {whole.ids} tracking IDs; {cut} cut to the"
        f" line bound; {len(lines.not_json)} not JSON; {lines.too_large} oversized-record"
        " stand-ins",
        "",
        *report.table(
            [HEADER, *fault_rows(soak.faults, watch.sent, seen, ledger, soak.t0_ms)],
            right=range(2, 8),
        ),
        "",
        *timeline(soak.faults, soak.t0_ms),
        report.spread_line("time to searchable, whole run", report.Spread.of(list(tts.values()))),
        report.spread_line(
            "time to searchable, outside the ES and Filebeat faults and their backlog",
            report.Spread.of(calm),
        ),
    ]
    events = ledger.filebeat
    out.append(
        f"Filebeat (its 30 s metrics): {events['duplicates']} re-sent lines refused as already"
        f" indexed (409: the event.id dedup at work), {events['dropped']} dropped,"
        f" {events['failed']} failed sends retried"
    )
    if watch.failed_searches:
        out.append(f"searches that failed while a fault was on: {watch.failed_searches}")
    if failures:
        out.append(
            f"WARNING: {len(failures)} requests did not get the answer they expect (e.g."
            f" {failures[0].entry}: {failures[0].error}); see load.log"
        )
    for problem in soak.problems:
        out.append(f"FAULT INJECTION PROBLEM: {problem}")
    if lines.not_json:
        out += ["NOT JSON in the log files:", *(f"  {w}" for w in lines.not_json[:SHOW_LOST])]
    if lines.repeated:
        out.append(f"EVENT.ID REPEATED: {lines.repeated} lines reuse an earlier line's event.id")
    out.append(
        f"dead-letter index {deadletter.INDEX}: {ledger.dead_letters} lines since the run began"
        f" ({whole.dead_lines} of them of {whole.dead_ids} of this run's tracking IDs)"
    )
    if ledger.lost_detail:
        out += ["LOST, DUPLICATED OR DEAD-LETTERED:", *(f"  {d}" for d in ledger.lost_detail)]
    verdict = (
        f"{whole.lost_ids} lost IDs ({whole.lost_lines} lines), {whole.duplicated} duplicated"
        f" documents, {ledger.dead_letters} dead-lettered,"
        f" {ledger.undecodable.get('run', 0)} undecodable; {whole.ids} tracking IDs,"
        f" {whole.lines} lines, {whole.docs} documents"
    )
    ok = ledger.ok and not soak.problems
    out.append(f"soak {'PASSED' if ok else 'FAILED'}: {verdict}")
    return out
