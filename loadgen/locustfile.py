"""The Locust side of `make load`: synthetic users sending the mix, each request recorded.

Started by ``python -m loadgen load`` (headless, or with the web UI for `make load-ui`),
which passes the run folder and the pacing; running it by hand works too:

    locust -f loadgen/locustfile.py --host http://127.0.0.1:8000 --run-dir runs/manual

Rate: every user sends ``--user-rate`` requests per second on a fixed schedule, catching up
after a slow response (at most one request early), so users x user-rate is the total rate
whatever the latency; users start staggered over one period, so requests come evenly.
The manifest line is written when the response has been read.

Distributed (``make load WORKERS=N``, Locust's --master/--worker): only the master writes
the manifest. Each worker sends its records to the master in batches over Locust's own
connection (a custom message); when its users have stopped it sends what is left and then
"done", before Locust's own "client_stopped", so the master has every record once it knows
the workers stopped. Workers number their requests in disjoint blocks (SEQ_BLOCK per worker
index), so client-chosen IDs never collide across workers.
"""

from __future__ import annotations

import itertools
import random
import signal
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

import gevent
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadgen import USER_AGENT, manifest, mix

_out: TextIO | None = None
_seq = itertools.count(1)
_user_number = itertools.count()
RECORDS_MESSAGE = "trackstack_records"  # worker -> master: a batch of manifest records
DONE_MESSAGE = "trackstack_records_done"  # worker -> master: its users stopped, all sent
SEND_EVERY_S = 0.25
DRAIN_TIMEOUT_S = 30.0  # how long the master waits for the workers' last records


class _ToMaster:
    """A worker's outbox: records go to the master every SEND_EVERY_S, and all at test_stop."""

    def __init__(self, runner: WorkerRunner) -> None:
        self.runner = runner
        self.pending: list[dict[str, Any]] = []
        gevent.spawn(self._every)

    def add(self, record: manifest.Record) -> None:
        self.pending.append(asdict(record))

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        if batch:
            self.runner.send_message(RECORDS_MESSAGE, {"records": batch})

    def _every(self) -> None:
        while True:
            gevent.sleep(SEND_EVERY_S)
            self.flush()

    def done(self, **_: Any) -> None:
        self.flush()
        self.runner.send_message(DONE_MESSAGE, None)


class _FromWorkers:
    """The master's side: writes the workers' records to the one manifest."""

    def __init__(self, runner: MasterRunner, out: TextIO) -> None:
        self.runner = runner
        self.out = out
        self.sending: set[str] = set()  # workers whose users run or whose records are due
        runner.register_message(RECORDS_MESSAGE, self.records)
        runner.register_message(DONE_MESSAGE, self.done)
        events.spawning_complete.add_listener(self.started)  # type: ignore[no-untyped-call]

    def started(self, **_: Any) -> None:
        self.sending |= set(self.runner.clients.keys())

    def records(self, msg: Any, **_: Any) -> None:
        self.sending.add(msg.node_id)
        for data in msg.data["records"]:
            manifest.write(self.out, manifest.Record(**data))

    def done(self, msg: Any, **_: Any) -> None:
        self.sending.discard(msg.node_id)

    def drain(self, **_: Any) -> None:
        """Stop the workers' users and wait for their last records (or DRAIN_TIMEOUT_S).

        Locust's own --run-time and quit only give workers 0.5 s after "quit"; a request
        in flight then (the mix's slow calls take up to 0.8 s) would be missing.
        """
        self.runner.stop()
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while self.sending and time.monotonic() < deadline:
            gevent.sleep(0.1)
        if self.sending:
            print(f"locustfile: no last records from workers {sorted(self.sending)}", flush=True)


def _arguments(parser: Any) -> None:
    parser.add_argument("--run-dir", default="", help="run folder for manifest.jsonl")
    parser.add_argument("--run-id", default="", help="names client-chosen tracking IDs")
    parser.add_argument("--user-rate", type=float, default=1.0, help="requests/s per user")
    parser.add_argument(
        "--entries", default="", help="comma-separated rows of the mix to send (all)"
    )
    parser.add_argument(
        "--run-seconds",
        type=float,
        default=0,
        help="distributed headless run: seconds to send (instead of --run-time), then drain",
    )


_to_master: _ToMaster | None = None


def _open_manifest(environment: Environment, runner: Any = None, **_: Any) -> None:
    global _out, _to_master
    if isinstance(runner, WorkerRunner):  # the master writes; a worker may be on another machine
        _to_master = _ToMaster(runner)
        events.test_stop.add_listener(_to_master.done)  # type: ignore[no-untyped-call]
        gevent.get_hub().loop.update_now()
        return
    given = environment.parsed_options.run_dir if environment.parsed_options else ""
    run_dir = Path(given) if given else manifest.new_run_dir(manifest.runs_root())
    run_dir.mkdir(parents=True, exist_ok=True)
    _out = (run_dir / manifest.MANIFEST).open("a", buffering=1)  # a line is written whole
    # gevent timers count from the event loop's cached clock, last updated before the
    # seconds spent importing; without this, --run-time 20s ends about 2 s early.
    gevent.get_hub().loop.update_now()
    # Ctrl-C (SIGINT) is how a run ends and Locust writes report.html; a parent that runs in
    # the background may have left SIGINT ignored, so take it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if isinstance(runner, MasterRunner):
        workers = _FromWorkers(runner, _out)
        # Ctrl-C, SIGTERM, the web UI's quit: take the workers' last records before quitting.
        events.quitting.add_listener(workers.drain)  # type: ignore[no-untyped-call]
        seconds = environment.parsed_options.run_seconds if environment.parsed_options else 0
        if seconds:
            # From the moment every worker has its users, as --run-time counts from the
            # start of a one-process run: each user then sends for `seconds`.
            events.spawning_complete.add_listener(  # type: ignore[no-untyped-call]
                lambda **_: gevent.spawn_later(seconds, _end_run, workers)
            )


def _end_run(workers: _FromWorkers) -> None:
    workers.drain()
    workers.runner.quit()


def _close_manifest(**_: Any) -> None:
    if _out is not None:
        _out.close()


# Locust imports this file to run it; these hooks are why. (add_listener has no type hints.)
events.init_command_line_parser.add_listener(_arguments)  # type: ignore[no-untyped-call]
events.init.add_listener(_open_manifest)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_close_manifest)  # type: ignore[no-untyped-call]


class SyntheticUser(FastHttpUser):
    """Sends rows of loadgen.mix.MIX at --user-rate requests per second."""

    default_headers = {"User-Agent": USER_AGENT}  # noqa: RUF012 - Locust's own attribute

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.period = 1 / (options.user_rate if options else 1.0)
        self.run_id = (options.run_id if options else "") or manifest.run_id()
        self.token = mix.debug_token()
        names = [name for name in (options.entries if options else "").split(",") if name]
        self.entries = mix.enabled(self.token, mix.only(names))
        self.rng = random.Random()  # noqa: S311 - traffic shape, not security
        # Locust starts all users at once; spreading their first requests over one period
        # turns "N requests at each full second" into a steady stream.
        users = max(1, options.num_users if options and options.num_users else 1)
        if isinstance(self.environment.runner, WorkerRunner):  # it knows only its own users
            time.sleep(self.period * self.rng.random())
        else:
            time.sleep(self.period * (next(_user_number) % users) / users)
        self.next_at = time.monotonic()

    def wait_time(self) -> float:
        self.next_at += self.period
        now = time.monotonic()
        if self.next_at < now - self.period:  # far behind: skip missed slots, don't burst
            self.next_at = now
        return max(0.0, self.next_at - now)

    @task
    def one_request(self) -> None:
        worker = max(0, getattr(self.environment.runner, "worker_index", 0))  # 0 if one process
        seq = next(_seq) + mix.SEQ_BLOCK * worker
        request = mix.build(
            mix.pick(self.rng, self.entries), seq, self.run_id, self.rng, self.token
        )
        sent_ms = time.time() * 1000
        with self.client.request(
            request.method,
            request.path,
            headers=request.headers,
            json=request.json_body,
            name=request.entry.name,
            catch_response=True,
        ) as response:
            received_ms = time.time() * 1000
            status = response.status_code or 0
            error = None
            if status == 0:
                error = f"no response: {getattr(response, 'error', None)}"
            elif status != request.expected_status:
                error = f"status {status}, expected {request.expected_status}"
            elif request.entry.debug and response.headers.get("X-Debug-Log") != "on":
                error = (
                    "debug not confirmed (no X-Debug-Log: on): is DEBUG_LOG_TOKEN the service's?"
                )
            if error:
                response.failure(error)
            else:
                response.success()
            record = manifest.Record.of_response(
                seq=seq,
                entry=request.entry.name,
                endpoint=request.entry.endpoint,
                method=request.method,
                path=request.path,
                sent_id=request.sent_id,
                returned_id=response.headers.get("X-Tracking-ID") if status else None,
                debug=status != 0 and response.headers.get("X-Debug-Log") == "on",
                status=status,
                expected_status=request.expected_status,
                sent_ms=sent_ms,
                received_ms=received_ms,
                error=error,
            )
        if _to_master is not None:
            _to_master.add(record)
        elif _out is not None:
            manifest.write(_out, record)
