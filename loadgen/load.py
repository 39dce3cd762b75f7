"""`make load` / `make load-ui`: run Locust on the mix, watch the IDs arrive, summarise.

Locust runs as a child process (its output goes to the run folder's locust.log); this
process follows the manifest it writes, prints progress on stderr, and asks Elasticsearch
every 250 ms which of the new tracking IDs are searchable yet (loadgen.watch). When Locust
is done it waits up to ``--settle`` seconds for the rest, then prints the summary and
draws summary.png.

``workers`` > 0 (``make load WORKERS=N``) runs Locust distributed: this process starts a
master and N worker processes (Locust's --master/--worker); ``remote_workers`` more may join
from other machines (``make load-worker MASTER=<host>``, with LOCUST_MASTER_BIND_HOST=0.0.0.0
here). Locust's master splits the users evenly across workers, and every user keeps its own
fixed pace, so the total rate is users x user-rate whatever the split. The workers send their
records to the master, which writes the one manifest (see loadgen/locustfile.py).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import requests

from elasticsearch import ApiError, Elasticsearch, TransportError
from loadgen import USER_AGENT, __version__, chart, cli, manifest, mix, report
from loadgen.elastic import connect
from loadgen.manifest import Record
from loadgen.watch import POLL_S, Watcher, now_ms, present
from setup.project import REPO, PollTimeout, poll_until

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
STOP_TIMEOUT_S = 15  # Locust lets in-flight requests finish (slow calls take up to 0.8 s)


@dataclass(frozen=True)
class Options:
    rate: float
    duration_s: int
    service_url: str
    runs_root: Path
    ui: bool = False
    settle_s: float = 20.0
    watch: bool = True
    watch_poll_s: float = POLL_S  # seconds between the watch's searches (--watch-poll)
    workers: int = 0  # local Locust worker processes; 0 = one process, no master
    remote_workers: int = 0  # more workers the master waits for (make load-worker)
    entries: tuple[str, ...] = ()  # rows of loadgen.mix.MIX to send; () = all


def service_url() -> str:
    return os.environ.get("SERVICE_URL", "http://127.0.0.1:8000").rstrip("/")


def pacing(rate: float) -> tuple[int, float]:
    """(users, requests/s per user) for a total rate: about one request per user per second.

    A second between a user's requests leaves room for the slowest call of the mix (800 ms)
    without falling behind.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    users = max(1, math.ceil(rate))
    return users, rate / users


class ManifestTail:
    """The manifest's complete lines as Locust appends them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: TextIO | None = None
        self.partial = ""

    def read(self) -> list[Record]:
        if self.handle is None:
            if not self.path.exists():
                return []
            self.handle = self.path.open()
        chunk = self.partial + self.handle.read()
        lines = chunk.split("\n")
        self.partial = lines.pop()
        return list(manifest.parse(lines, str(self.path)))

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


class Progress:
    """One line on stderr: rewritten in place on a terminal, every 5 s otherwise.

    Elapsed time and the rate (requests sent in the last 5 s) count from the first request,
    so Locust's start-up does not read as a slow start.
    """

    def __init__(self, target: float, duration_s: float | None) -> None:
        self.target = target
        self.duration_s = duration_s
        self.first_ms: float | None = None
        self.recent: deque[float] = deque()  # send times (epoch ms) of the last 5 s
        self.sent = 0
        self.failures = 0
        self.tty = sys.stderr.isatty()
        self.last_print = 0.0
        self.last_line = ""
        self.settling = False

    def add(self, records: list[Record]) -> None:
        for record in records:
            self.sent += 1
            self.failures += not report.is_ok(record)
            self.recent.append(record.sent_ms)
            if self.first_ms is None or record.sent_ms < self.first_ms:
                self.first_ms = record.sent_ms

    def show(self, searchable: int | None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_print < (1 if self.tty else 5):
            return
        self.last_print = now
        seen = f"  searchable {searchable}/{self.sent}" if searchable is not None else ""
        if self.first_ms is None:
            line = "starting Locust..."
        elif self.settling:
            waiting = searchable is not None and searchable < self.sent
            line = f"sent {self.sent}  errors {self.failures}{seen}" + (
                "  (waiting for the rest to become searchable)" if waiting else "  done"
            )
        else:
            wall_ms = now_ms()
            while self.recent and self.recent[0] < wall_ms - 5000:
                self.recent.popleft()
            elapsed = (wall_ms - self.first_ms) / 1000
            window = min(5.0, max(elapsed, 1.0))
            left = (
                f"{max(0, self.duration_s - elapsed):3.0f}s left"
                if self.duration_s
                else "Ctrl-C ends the run"
            )
            line = (
                f"[{elapsed:4.0f}s] {len(self.recent) / window:6.1f} req/s"
                f" (target {self.target:g})  sent {self.sent}  errors {self.failures}{seen}  {left}"
            )
        if line == self.last_line:  # e.g. "done" after sending, then again after settling
            return
        self.last_line = line
        sys.stderr.write(f"\r\033[K{line}" if self.tty else f"{line}\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def master_address() -> tuple[str, int]:
    """(bind host, port) of a distributed run's master: LOCUST_MASTER_BIND_HOST (127.0.0.1;
    0.0.0.0 lets workers on other machines join) and LOCUST_MASTER_PORT (Locust's 5557)."""
    host = os.environ.get("LOCUST_MASTER_BIND_HOST", "127.0.0.1")
    return host, int(os.environ.get("LOCUST_MASTER_PORT", "5557"))


def worker_command(master_host: str, master_port: int) -> list[str]:
    """One Locust worker: it gets the host, users and pacing from the master."""
    return [
        *_locust(),
        "--worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
        "--loglevel",
        "WARNING",
    ]


def _locust() -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]


def locust_command(options: Options, run_dir: Path, users: int, user_rate: float) -> list[str]:
    command = [
        *_locust(),
        "--host",
        options.service_url,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),  # everyone within the first second, so the rate holds from the start
        "--run-dir",
        str(run_dir),
        "--run-id",
        run_dir.name,
        "--user-rate",
        f"{user_rate:.6g}",
        "--csv",
        str(run_dir / "locust"),
        "--html",
        str(run_dir / "report.html"),
        "--stop-timeout",
        str(STOP_TIMEOUT_S),
        "--loglevel",
        "WARNING",
    ]
    if options.entries:
        command += ["--entries", ",".join(options.entries)]
    distributed = options.workers + options.remote_workers > 0
    if distributed:
        bind_host, port = master_address()
        command += [
            "--master",
            "--master-bind-host",
            bind_host,
            "--master-bind-port",
            str(port),
            "--expect-workers",
            str(options.workers + options.remote_workers),
        ]
    if options.ui:
        web_host = os.environ.get("LOCUST_WEB_HOST", "127.0.0.1")
        command += ["--web-host", web_host, "--web-port", os.environ.get("LOCUST_WEB_PORT", "8089")]
    elif distributed:  # the locustfile ends the run, after the workers' last records arrived
        command += ["--headless", "--only-summary", "--run-seconds", str(options.duration_s)]
    else:
        command += ["--headless", "--only-summary", "--run-time", f"{options.duration_s}s"]
    return command


def _preflight(url: str) -> str | None:
    try:
        response = requests.get(f"{url}/api/health", timeout=5, headers={"User-Agent": USER_AGENT})
    except requests.RequestException:
        return cli.unreachable("the service", url)
    if response.status_code != 200:
        return f"service at {url} answered /api/health with {response.status_code}"
    return None


def _watcher(run_dir: Path, enabled: bool) -> tuple[Watcher | None, TextIO | None]:
    if not enabled:
        return None, None
    es: Elasticsearch = connect()
    try:
        present(es, ["loadgen-probe"], now_ms())
    except Exception as exc:
        why = cli.explain_elasticsearch(exc) if isinstance(exc, ApiError | TransportError) else exc
        print(f"load: not measuring time to searchable: {why}", file=sys.stderr)
        return None, None
    out = (run_dir / manifest.SEARCHABLE).open("a")
    return Watcher(lambda ids, since: present(es, ids, since), out), out


class Follower:
    """Reads what Locust sends as it happens: progress, and the watch for searchable IDs."""

    def __init__(
        self, run_dir: Path, watcher: Watcher | None, progress: Progress, poll_s: float = POLL_S
    ) -> None:
        self.tail = ManifestTail(run_dir / manifest.MANIFEST)
        self.poll_s = poll_s
        self.watcher = watcher
        self.progress = progress
        self.records: list[Record] = []
        self.last_error = ""

    def step(self, force: bool = False) -> None:
        new = self.tail.read()
        self.records.extend(new)
        self.progress.add(new)
        searchable = None
        if self.watcher is not None:
            self.watcher.add(new)
            try:
                self.watcher.poll()
            except Exception as exc:  # keep sending; the summary says what was not measured
                if str(exc) != self.last_error:  # once, not four times a second
                    print(f"\nload: search failed (will retry): {exc}", file=sys.stderr)
                self.last_error = str(exc)
            searchable = len(self.watcher.sightings)
        self.progress.show(searchable, force)

    def follow(self, child: subprocess.Popen[bytes]) -> None:
        """Until Locust exits; Ctrl-C (or SIGTERM) ends its run the way Locust's own does."""
        try:
            while child.poll() is None:
                self.step()
                time.sleep(self.poll_s)
        except KeyboardInterrupt:
            sys.stderr.write("\nload: stopping Locust\n")
            _interrupt(child)
        finally:
            try:
                child.wait(timeout=STOP_TIMEOUT_S + 15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.progress.settling = True
        self.step(force=True)

    def settle(self, seconds: float) -> None:
        """Keep watching, up to ``seconds``, for the IDs not yet searchable."""

        def searchable() -> bool:
            if not (self.watcher and self.watcher.pending):
                return True
            self.step()
            return False

        try:
            with contextlib.suppress(PollTimeout):  # the summary names what is still missing
                poll_until(searchable, seconds, "every ID searchable", self.poll_s, retry_on=())
        except KeyboardInterrupt:
            sys.stderr.write("\nload: not waiting any longer\n")
        self.step(force=True)
        self.progress.done()
        self.tail.close()


def run(options: Options) -> int:
    problem = _preflight(options.service_url)
    if problem:
        print(f"load: {problem}", file=sys.stderr)
        return 2
    users, user_rate = pacing(options.rate)
    run_dir = manifest.new_run_dir(options.runs_root)
    token = mix.debug_token()
    manifest.write_info(
        run_dir,
        {
            "run_id": run_dir.name,
            "loadgen_version": __version__,
            "user_agent": USER_AGENT,
            "service_url": options.service_url,
            "target_rate": options.rate,
            "duration_s": None if options.ui else options.duration_s,
            "users": users,
            "user_rate": user_rate,
            "workers": options.workers + options.remote_workers,
            "debug_requests": bool(token),
            "started_ms": round(now_ms()),
        },
    )
    print(f"load: run folder {manifest.shown(run_dir)}", file=sys.stderr)
    if not token:
        print("load: DEBUG_LOG_TOKEN unset: skipping the users-debug rows", file=sys.stderr)
    if options.ui:
        port = os.environ.get("LOCUST_WEB_PORT", "8089")
        print(
            f"load: Locust UI on http://127.0.0.1:{port} ({users} users x {user_rate:.3g} req/s"
            " preset); Ctrl-C here ends the run and writes the reports",
            file=sys.stderr,
        )
    # `docker stop` sends SIGTERM (and PID 1 has no default action): end the run like Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    watcher, sightings_out = _watcher(run_dir, options.watch)
    follower = Follower(
        run_dir,
        watcher,
        Progress(options.rate, None if options.ui else options.duration_s),
        options.watch_poll_s,
    )
    python_path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = os.environ | {"PYTHONPATH": python_path}
    with (run_dir / "locust.log").open("w") as log:
        child = subprocess.Popen(
            locust_command(options, run_dir, users, user_rate),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        workers = _start_workers(options.workers, run_dir, env)
        try:
            follower.follow(child)
        finally:
            _stop_workers(workers)
    follower.settle(options.settle_s)
    if sightings_out is not None:
        sightings_out.close()
    if not follower.records:
        print(f"load: no request was sent; Locust said:\n{_tail_of(run_dir / 'locust.log')}")
        return 2
    return _summary(options, run_dir, follower.records, watcher, child.returncode)


def _start_workers(count: int, run_dir: Path, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    """``count`` local workers, each logging to worker-<n>.log. Their own session keeps a
    terminal's Ctrl-C from them: the master stops them once it has their last records."""
    bind_host, port = master_address()
    host = "127.0.0.1" if bind_host in ("0.0.0.0", "*", "") else bind_host  # noqa: S104
    workers = []
    for number in range(1, count + 1):
        with (run_dir / f"worker-{number}.log").open("w") as log:
            workers.append(
                subprocess.Popen(
                    worker_command(host, port),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            )
    return workers


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """Workers quit when the master tells them; any left (the master died) get SIGTERM."""
    deadline = time.monotonic() + 10
    for worker in workers:
        try:
            worker.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def _interrupt(child: subprocess.Popen[bytes]) -> None:
    """Make Locust end the run the way Ctrl-C does: only SIGINT makes it write report.html.

    From a terminal it got the same Ctrl-C already; a SIGTERM (`docker stop`) reached only us.
    """
    try:
        child.wait(timeout=3)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGINT)


def _summary(
    options: Options,
    run_dir: Path,
    records: list[Record],
    watcher: Watcher | None,
    locust_rc: int | None,
) -> int:
    info = manifest.read_info(run_dir)
    sent = sorted(r.sent_ms for r in records)
    span_s = (sent[-1] - sent[0]) / 1000
    achieved = report.achieved_rate(
        len(records), None if options.ui else options.duration_s, span_s
    )
    failures = [r for r in records if not report.is_ok(r)]
    folder = manifest.shown(run_dir)
    lines = [
        f"run {folder}: {info.get('users')} users x {info.get('user_rate', 0):.3g} req/s"
        f" against {options.service_url}",
        f"rate: {achieved:.1f} req/s achieved vs {options.rate:g} target"
        f" ({len(records)} requests, {100 * achieved / options.rate:.0f} % of target; first to"
        f" last send {span_s:.1f} s)",
        "",
        *report.entry_table(report.by_entry(records, [e.name for e in mix.MIX])),
        "",
        report.spread_line(
            "latency, all requests", report.Spread.of([r.latency_ms for r in records]), "ms"
        ),
    ]
    if watcher is not None:
        tts = report.time_to_searchable_s(records, watcher.sightings)
        with_id = sum(r.tracking_id is not None for r in records)
        lines += [
            report.spread_line(
                "time to searchable (response received -> first search that finds the ID)",
                report.Spread.of(list(tts.values())),
            ),
            f"searchable: {len(watcher.sightings)}/{with_id} tracking IDs found by"
            f" {options.watch_poll_s * 1000:.0f} ms polls while sending and up to"
            f" {options.settle_s:g} s after",
        ]
    else:
        tts = {}
    picture = chart.render(run_dir, records, tts)
    lines += [
        f"reports: {folder}/ manifest.jsonl, report.html (Locust), locust_stats.csv,"
        f" {picture.name}",
    ]
    if achieved < 0.9 * options.rate:
        lines.append(
            f"WARNING: achieved {achieved:.1f} req/s is under 90 % of the target: the service or"
            " this machine is the limit (see the p99 column and locust.log)"
        )
    if failures:
        lines.append(f"FAILED: {len(failures)} requests did not get the answer they expect:")
        for record in failures[:10]:
            lines.append(f"  {record.entry} {record.method} {record.path}: {record.error}")
    elif locust_rc not in (0, 1):  # 1 = Locust saw failures, which we count ourselves
        lines.append(f"FAILED: Locust exited with {locust_rc}:\n{_tail_of(run_dir / 'locust.log')}")
    example = next((r for r in records if r.endpoint == "orders" and r.tracking_id), records[0])
    lines.append(f"next: make verify   then: make trace ID={example.tracking_id}")
    print("\n".join(lines))
    (run_dir / "summary.txt").write_text("\n".join(lines) + "\n")
    manifest.write_info(
        run_dir,
        info | {"requests": len(records), "achieved_rate": round(achieved, 3), "span_s": span_s},
    )
    return 1 if failures or locust_rc not in (0, 1) else 0


def _tail_of(path: Path, lines: int = 20) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])
