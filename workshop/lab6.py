"""Lab 6: Elasticsearch down during load: nothing lost (workshop/lab6.md)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import requests

from elasticsearch import ApiError, Elasticsearch, TransportError
from setup.project import INDEX_PATTERN, REPO, PollTimeout, poll_until
from workshop.kit import (
    REQUESTS,
    Context,
    Count,
    Scenario,
    Verdict,
    incomplete,
    parse_fields,
    utc_now,
)

TITLE = "Elasticsearch down during load: nothing lost"
ANSWER_FORM = "total=<requests found> during=<answered while it was down>"


class Sender(threading.Thread):
    """Requests at a steady rate, one at a time; each counted in the phase it was sent in.

    Holding ``lock`` pauses it between two requests, so a phase change is never ambiguous.
    """

    def __init__(self, ctx: Context, prefix: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.ctx, self.prefix, self.period = ctx, prefix, 1 / rate
        self.lock = threading.Lock()
        self.phase = "before"
        self.answered: dict[str, int] = {"before": 0, "during": 0, "after": 0}
        self.failed = 0
        self.done = threading.Event()

    def run(self) -> None:
        due = time.monotonic()
        seq = 0
        while not self.done.is_set():
            seq += 1
            path = "/api/names" if seq % 2 else f"/api/item?sku=lab6-{seq}"
            with self.lock:
                try:
                    answer = self.ctx.send(
                        "GET", path, {"X-Tracking-ID": f"{self.prefix}{seq:05d}"}, timeout_s=10
                    )
                    ok = answer.status_code == 200
                except requests.RequestException:
                    ok = False
                if ok:
                    self.answered[self.phase] += 1
                else:
                    self.failed += 1
            due = max(due + self.period, time.monotonic())
            self.done.wait(max(0.0, due - time.monotonic()))


def elasticsearch_commands() -> tuple[str, list[str], list[str]]:
    """(mode, stop command, start command) for the stack that is running: native or compose."""
    script = "native/elasticsearch.sh"  # run in the repository, like every make target
    status = subprocess.run([script, "status"], cwd=REPO, capture_output=True, check=False)
    if status.returncode == 0:
        return "native", [script, "stop"], [script, "start"]
    compose = os.environ.get("COMPOSE", "docker compose").split()
    return "compose", [*compose, "stop", "elasticsearch"], [*compose, "start", "elasticsearch"]


def _say(text: str) -> None:
    print(f"[{utc_now()[11:19]}] {text}", flush=True)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")


def _wait_searchable(es: Elasticsearch, timeout_s: float = 240) -> None:
    try:
        poll_until(
            lambda: es.count(index=INDEX_PATTERN) is not None,
            timeout_s,
            "Elasticsearch to answer searches again",
            every_s=1,
            retry_on=(ApiError, TransportError),
        )
    except PollTimeout as exc:
        raise RuntimeError(str(exc)) from exc  # `make lab` prints it; exit 1


def create(ctx: Context) -> Scenario:
    mode, stop, start = elasticsearch_commands()
    prefix = f"lab6-{uuid.uuid4().hex[:6]}-"
    plan = ctx.outage
    _say(f"sending {plan.rate:g} requests/s with tracking IDs {prefix}00001, {prefix}00002, ...")
    sender = Sender(ctx, prefix, plan.rate)
    sender.start()
    time.sleep(plan.before_s)
    _say(f"stopping Elasticsearch ({mode}: {' '.join(stop)}); the service keeps answering")
    with sender.lock:  # no request in flight while Elasticsearch goes down
        _run(stop)
        down_from = utc_now()
        sender.phase = "during"
    try:
        _say(f"Elasticsearch is down since {down_from}; Filebeat keeps the lines and retries")
        time.sleep(plan.down_s)
        _say(f"starting Elasticsearch again ({' '.join(start)}), this takes a while")
    finally:
        _run(start)
        _wait_searchable(ctx.es)
    with sender.lock:
        time.sleep(0.05)  # the last access line is written just after its response
        down_to = utc_now()
        sender.phase = "after"
        time.sleep(0.02)
    _say(f"Elasticsearch is back at {down_to}")
    time.sleep(plan.after_s)
    sender.done.set()
    sender.join()
    _say("traffic stopped")
    total = sum(sender.answered.values())
    briefing = f"""Elasticsearch was down from {down_from} to {down_to} (UTC) while requests kept
coming, every one with a tracking ID starting {prefix}. Was anything lost?

How many of these requests can Elasticsearch find now (count their access lines), and how
many of them did the service answer while Elasticsearch was down (by @timestamp)?"""
    facts = {"prefix": prefix, "down_from": down_from, "down_to": down_to, "mode": mode}
    expected = {
        "prefix": prefix,
        "total": total,
        "during": sender.answered["during"],
        "failed": sender.failed,
        "down_from": down_from,
        "down_to": down_to,
    }
    variables = {"PREFIX": prefix, "FROM": down_from, "TO": down_to}
    return Scenario(briefing, facts, expected, variables)


def check(expected: Mapping[str, Any], answer: str, count: Count) -> Verdict:
    """Judged against the client's own tally, and Elasticsearch's count now says whether a low
    total is Filebeat still catching up or the attendee's query dropping lines."""
    values = parse_fields(answer, ["total", "during"])
    keys = ["total", "during"]
    if problem := incomplete(ANSWER_FORM, values, keys, dict.fromkeys(keys, REQUESTS)):
        return problem
    total, during = REQUESTS.value(values["total"]), REQUESTS.value(values["during"])
    prefix = expected["prefix"]
    run = {"prefix": {"tracking_id": prefix}}
    access = {"term": {"event.dataset": "trackstack.access"}}
    # A re-run starts a new prefix, and its total differs: an old prefix's count FAILs as too
    # low or too high, so both verdicts name this run's prefix.
    this_run = (
        "count access lines only (event.dataset:trackstack.access, one per request), with THIS"
        f" run's prefix {prefix} (each `make lab N=6` starts a new one: paste the variables line"
        " it printed)"
    )
    if total < expected["total"]:
        searchable = count({"bool": {"filter": [run, access]}})
        if searchable < expected["total"]:
            return Verdict(
                False,
                # Not "lost" nor "late" for sure: Elasticsearch cannot tell which, yet.
                f"{total:g} is fewer than the service answered in this run ({prefix}), and"
                " Elasticsearch does not have them all either: Filebeat may still be catching up",
                "wait a few seconds (Filebeat retries, backing off up to 5 s) and count again;"
                " if it stays lower, lines were lost: look at Filebeat's log",
            )
        # Filebeat may have caught up between the attendee's count and this one: say both.
        return Verdict(
            False,
            f"{total:g} is fewer than the service answered in this run ({prefix}), but"
            " Elasticsearch has them all now: count again (Filebeat may still have been catching"
            " up when you counted); if you get the same number, your query leaves some out",
            f"{this_run}, over the whole run: a time range that ends now, not at the outage",
        )
    if total > expected["total"]:
        every = count({"bool": {"filter": [run]}})
        return Verdict(
            False,
            f"{total:g} is more than the service answered in this run ({prefix})"
            + (": that counts every line, not one per request" if total == every else ""),
            this_run,
        )
    if during != expected["during"]:
        window = (
            count(
                {
                    "bool": {
                        "filter": [
                            run,
                            {
                                "range": {
                                    "@timestamp": {
                                        "gte": expected["down_from"],
                                        "lte": expected["down_to"],
                                    }
                                }
                            },
                        ]
                    }
                }
            )
            if "down_from" in expected
            else None
        )
        if during > expected["total"] or during == window:
            # More than the run's requests, or the window's lines of every kind: no time
            # range makes that; the missing access-line filter does.
            return Verdict(
                False,
                f"during={during:g}: that counts every line, not one per request"
                + (f" (more than total={total:g})" if during > total else ""),
                "count access lines only (event.dataset:trackstack.access, one per request),"
                " with @timestamp in the printed window, $FROM to $TO",
            )
        mistake = (
            "that is the whole run"
            if during == expected["total"]
            else "none: are the window's times read as UTC? (they end in Z)"
            if during == 0
            else f"{during:g} is not how many were answered while Elasticsearch was down"
        )
        return Verdict(
            False,
            f"during={during:g}: {mistake}",
            "restrict @timestamp to the printed window, $FROM to $TO (when the service wrote"
            " the line, not when it reached Elasticsearch)",
        )
    return Verdict(
        True,
        f"all {expected['total']} requests are searchable, {expected['during']} of them answered"
        " while Elasticsearch was down: Filebeat kept its place in the files and caught up",
    )
