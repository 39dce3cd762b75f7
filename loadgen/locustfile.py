"""The Locust side of `make load`: synthetic users sending the mix, each request recorded.

Started by ``python -m loadgen load`` (headless, or with the web UI for `make load-ui`),
which passes the run folder and the pacing; running it by hand works too:

    locust -f loadgen/locustfile.py --host http://127.0.0.1:8000 --run-dir runs/manual

Rate: every user sends ``--user-rate`` requests per second on a fixed schedule, catching up
after a slow response (at most one request early), so users x user-rate is the total rate
whatever the latency; users start staggered over one period, so requests come evenly.
The manifest line is written when the response has been read.
"""

from __future__ import annotations

import itertools
import random
import signal
import time
from pathlib import Path
from typing import Any, TextIO

import gevent
from locust import FastHttpUser, events, task
from locust.env import Environment

from loadgen import USER_AGENT, manifest, mix

_out: TextIO | None = None
_seq = itertools.count(1)
_user_number = itertools.count()


def _arguments(parser: Any) -> None:
    parser.add_argument("--run-dir", default="", help="run folder for manifest.jsonl")
    parser.add_argument("--run-id", default="", help="names client-chosen tracking IDs")
    parser.add_argument("--user-rate", type=float, default=1.0, help="requests/s per user")


def _open_manifest(environment: Environment, **_: Any) -> None:
    global _out
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
        self.entries = mix.enabled(self.token)
        self.rng = random.Random()  # noqa: S311 - traffic shape, not security
        # Locust starts all users at once; spreading their first requests over one period
        # turns "N requests at each full second" into a steady stream.
        users = max(1, options.num_users if options and options.num_users else 1)
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
        seq = next(_seq)
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
        if _out is not None:
            manifest.write(_out, record)
