"""Every workshop lab end to end on the native stack, played by two attendees.

The literal attendee runs `make lab N=...`, pastes the variables line it printed, runs the lab
page's command blocks exactly as workshop/lab<N>.md shows them (after the workshop
README's `es` helper), reads the answer off their output and checks it with `make lab-check`:
it must PASS. When a FAIL says to wait and count again, they do, as the page's hints say.
The page is parsed, so a page whose commands drift from the lab breaks this test.

The attendee who makes the common mistakes (one service only, the response body instead of
the ERROR line, the caller instead of the callee, short service names, the page's example
path instead of the briefing's, a repeated request, every line instead of access lines) must
get a FAIL whose message names that mistake, or a PASS where the short answer is right.
Answers come from Elasticsearch as the reader user sees it, never from lab<N>.answer.json.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from elasticsearch import Elasticsearch
from loadgen.elastic import connect
from loadgen.trace import fetch, field
from setup.project import INDEX_PATTERN, REPO, poll_until
from tests.helpers import SERVICE, Stack, native

WORKSHOP = REPO / "workshop"
PASTE = "for the commands on the lab page, paste this line into your shell first:"
CLI_STEPS = "## Steps on the command line"
SEND_STEP = "## Send your debug request"
PAGE = "=== the lab page ==="


@pytest.fixture(scope="module")
def labs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("labs")


@pytest.fixture(scope="module")
def reader(stack: Stack) -> Elasticsearch:
    """What attendees search with: the read-only user of `make trace`."""
    return connect()


def make(labs_dir: Path, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", *args],
        cwd=REPO,
        env=os.environ | {"LABS_DIR": str(labs_dir)},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


# --- what an attendee sees and types ---------------------------------------------------------


@dataclass
class Attendee:
    """One attendee's shell: the lab's briefing, the variables line they pasted."""

    labs_dir: Path
    lab: int
    briefing: str
    pasted: str

    @classmethod
    def start(cls, labs_dir: Path, lab: int, options: str = "") -> Attendee:
        created = make(labs_dir, "lab", f"N={lab}", f"LAB_OPTS={options}")
        assert created.returncode == 0, f"{created.stdout}\n{created.stderr}"
        out = created.stdout
        assert f"answer with:  make lab-check N={lab} ANSWER=" in out
        pasted = out.split(PASTE, 1)[1].strip().splitlines()[0].strip()
        return cls(labs_dir, lab, out, pasted)

    @property
    def variables(self) -> dict[str, str]:
        """The pasted line as the shell reads it."""
        shown = subprocess.run(
            ["bash", "-c", f"{self.pasted}; declare -p ID REQUEST REFUSED PREFIX FROM TO"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return dict(re.findall(r'declare -- (\w+)="([^"]*)"', shown))

    @property
    def facts(self) -> dict[str, Any]:
        """The briefing's public facts (lab<N>.json), for the mistakes only."""
        facts: dict[str, Any] = json.loads((self.labs_dir / f"lab{self.lab}.json").read_text())
        return facts

    def run_page(self, heading: str = CLI_STEPS) -> tuple[str, list[Any]]:
        """The page's bash blocks under ``heading``, run as written after the README's helper
        and the pasted line; their output and every JSON value it printed."""
        script = "\n".join(
            [workshop_helper(), f"echo {PAGE}", self.pasted, *page_blocks(self.lab, heading)]
        )
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        out = result.stdout.split(f"{PAGE}\n", 1)[1]  # the helper's own check printed before
        values = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return out, values

    def check(self, answer: str) -> tuple[bool, str]:
        """`make lab-check` as typed: (PASS?, what it printed)."""
        checked = make(self.labs_dir, "lab-check", f"N={self.lab}", f"ANSWER={answer}")
        out = checked.stdout + checked.stderr
        # make exits 2 when its recipe failed; the checker's own status (1 = FAIL) it prints
        assert checked.returncode == 0 or "Error 1" in checked.stderr, out
        assert ("PASS" in checked.stdout) is (checked.returncode == 0), out
        assert checked.returncode == 0 or "hint:" in checked.stdout, out
        return checked.returncode == 0, out

    def fails(self, answer: str, *says: str) -> None:
        passed, out = self.check(answer)
        assert not passed, f"{answer!r} should FAIL: {out}"
        for words in says:
            assert words in out, f"{answer!r}: the FAIL does not say {words!r}: {out}"

    def passes(self, answer: str) -> None:
        passed, out = self.check(answer)
        assert passed, f"{answer!r} should PASS: {out}"


def page_blocks(lab: int, heading: str) -> list[str]:
    """The ```bash blocks of lab<N>.md's section ``heading`` (up to the next ``## ``)."""
    text = (WORKSHOP / f"lab{lab}.md").read_text()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert blocks, f"lab{lab}.md has no bash block under {heading!r}"
    return blocks


def workshop_helper() -> str:
    """The `es` helper the workshop README has attendees define once per shell."""
    text = (WORKSHOP / "README.md").read_text()
    section = text.split("## Before the first lab", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "the workshop README lost its helper block"
    return match[1]


def hits(value: Any) -> list[dict[str, Any]]:
    """The _source of each hit of a _search answer (filter_path keeps only what was asked)."""
    return [hit["_source"] for hit in value.get("hits", {}).get("hits", [])]


def answer_until_pass(attendee: Attendee, read_answer: Any, tries: int = 10) -> str:
    """Run the page, answer; while the FAIL says to wait and count again, wait and redo."""
    for _ in range(tries):
        answer = read_answer(*attendee.run_page())
        passed, out = attendee.check(answer)
        if passed:
            return answer
        assert any(words in out for words in ("count again", "catching up", "not there yet")), (
            f"{answer!r} FAILed without saying to wait: {out}"
        )
        time.sleep(3)
    pytest.fail(f"{attendee.lab}: still FAILing after {tries} rounds of counting again")


# --- lab 1 -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab1(stack: Stack, labs_dir: Path) -> Attendee:
    return Attendee.start(labs_dir, 1)


def test_lab1_literal(lab1: Attendee) -> None:
    """make trace and the page's _count agree; the count PASSes."""
    out, values = lab1.run_page()
    count = values[-1]["count"]
    assert f"{count} documents from" in out and "order: by cause" in out
    answer_until_pass(lab1, lambda out, values: f"lines={values[-1]['count']}")


def test_lab1_mistakes(lab1: Attendee, reader: Elasticsearch) -> None:
    """One service's lines, or only up to the response, FAIL naming the mistake."""
    docs = fetch(reader, lab1.variables["ID"])[0]
    services = {field(d, "service.name") for d in docs}
    if len(services) == 2:  # an order: two services
        front = sum(field(d, "service.name") == "trackstack-service" for d in docs)
        lab1.fails(f"lines={front}", "one service's share")
    else:  # a job: lines after the response
        response = next(d for d in docs if field(d, "event.dataset") == "trackstack.access")
        until = [d for d in docs if field(d, "@timestamp") <= field(response, "@timestamp")]
        lab1.fails(f"lines={len(until)}", "after its response")
    lab1.fails(f"lines={len(docs) + 3}", f"more than request {lab1.variables['ID']} wrote")
    lab1.fails("lines=many", "lines=<number>")


# --- lab 2 -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab2(stack: Stack, labs_dir: Path) -> Attendee:
    return Attendee.start(labs_dir, 2)


def test_lab2_literal(lab2: Attendee) -> None:
    """The page's _search prints error.type and error.message; quoting them PASSes."""

    def read(out: str, values: list[Any]) -> str:
        assert "Traceback (most recent call last)" in out  # make trace prints the stack trace
        error = hits(values[-1])[0]["error"]
        return f"{error['type']}: {error['message']}"

    answer_until_pass(lab2, read)


def test_lab2_mistakes(lab2: Attendee, reader: Elasticsearch) -> None:
    """The body's msg, another request's error and a type alone FAIL, naming the mistake."""
    body = lab2.facts["response"]
    lab2.fails(body["msg"], "body's msg")
    mine = lab2.variables["ID"]
    at = next(field(d, "@timestamp") for d in fetch(reader, mine)[0])
    # The decoys failed in the same crowd of requests, within a few seconds of the customer's.
    around = {"gte": f"{at}||-5s", "lte": f"{at}||+5s"}
    others = reader.search(
        index=INDEX_PATTERN,
        query={
            "bool": {
                "filter": [{"term": {"log.level": "error"}}, {"range": {"@timestamp": around}}],
                "must_not": [{"term": {"tracking_id": mine}}],
            }
        },
        size=50,
    )["hits"]["hits"]
    other = next(
        field(hit["_source"], "error.message")
        for hit in others
        if "simulated failure" in str(field(hit["_source"], "error.message"))
    )
    lab2.fails(f"RuntimeError: {other.split(': ', 1)[1]}", "another request")
    lab2.fails("RuntimeError", "error.message")


# --- lab 3 -------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["--seed 2", "--seed 3"], ids=["slow", "failing"])
def lab3(stack: Stack, labs_dir: Path, request: pytest.FixtureRequest) -> Attendee:
    """Seed 2 makes the dependency too slow (the caller times out), seed 3 makes it fail."""
    return Attendee.start(labs_dir, 3, request.param)


def callee_access(values: list[Any]) -> dict[str, Any]:
    """trackstack-orders' own access line among the page's _search hits."""
    return next(
        hit
        for value in values
        for hit in hits(value)
        if hit["service"]["name"] == "trackstack-orders" and hit["message"].startswith("GET ")
    )


def test_lab3_literal(lab3: Attendee) -> None:
    """The callee's access line in the page's output gives service and status; they PASS."""

    def read(out: str, values: list[Any]) -> str:
        assert "trackstack-orders" in out and "order: by cause" in out
        line = callee_access(values)
        return f"service={line['service']['name']} status={line['http']['response']['status_code']}"

    answer_until_pass(lab3, read)


def test_lab3_mistakes(lab3: Attendee) -> None:
    """The caller FAILs as 'where it showed'; the short name PASSes; the caller's status FAILs."""
    _, values = lab3.run_page()
    status = callee_access(values)["http"]["response"]["status_code"]
    lab3.fails("service=trackstack-service status=500", "where the failure showed")
    lab3.passes(f"service=orders status={status}")
    if status == 200:
        lab3.fails("service=orders status=500", "answered the customer")


# --- lab 4 -------------------------------------------------------------------------------------


@pytest.fixture
def lab4(stack: Stack, labs_dir: Path) -> Iterator[Attendee]:
    """A fresh lab 4 per test: each attendee sends their own requests with its ID."""
    yield Attendee.start(labs_dir, 4)


def test_lab4_literal(lab4: Attendee) -> None:
    """The page's curl sends $REQUEST with the token (X-Debug-Log: on); the page's count of
    DEBUG lines and the refused request's labels.reason PASS."""
    out, _ = lab4.run_page(SEND_STEP)
    assert "x-debug-log: on" in out.lower(), out

    def read(out: str, values: list[Any]) -> str:
        count = next(value["count"] for value in values if "count" in value)
        reason = next(hit for value in values for hit in hits(value) if "labels" in hit)
        return f"debug={count} reason={reason['labels']['reason']}"

    answer_until_pass(lab4, read)


def send_debug(attendee: Attendee, path: str, token: str) -> None:
    response = requests.get(
        f"{SERVICE}{path}",
        headers={
            "X-Tracking-ID": attendee.variables["ID"],
            "X-Debug-Log": "1",
            "X-Debug-Token": token,
        },
        timeout=10,
    )
    assert response.status_code == 200


def test_lab4_mistakes(lab4: Attendee, reader: Elasticsearch) -> None:
    """The page's example path instead of the briefing's FAILs naming the path; then the right
    request: all the ID's DEBUG lines PASS, and so does one request's count; a wrong token and
    the audit line counted FAIL naming them."""
    mine, request = lab4.variables["ID"], lab4.variables["REQUEST"]
    token = (REPO / ".secrets" / "service.env").read_text().split("DEBUG_LOG_TOKEN=")[1].strip()
    wrong = "/api/names" if request.startswith("/api/users") else "/api/users"
    send_debug(lab4, wrong, token)

    def count(term: dict[str, str]) -> int:
        query = {"bool": {"filter": [{"term": {"tracking_id": mine}}, {"term": term}]}}
        return int(reader.count(index=INDEX_PATTERN, query=query)["count"])

    def searchable(requests_sent: int) -> int | None:
        """The ID's DEBUG lines once the access lines of every request sent are searchable."""
        if count({"event.dataset": "trackstack.access"}) < requests_sent:
            return None
        return count({"log.level": "debug"}) or None

    first = poll_until(lambda: searchable(1), 30, "the wrong-path request's lines")
    lab4.fails(f"debug={first} reason=bad token", f"went to {request.split('?')[0]}")

    send_debug(lab4, request, token)  # now the briefing's request, with the same ID
    total = poll_until(
        lambda: (n := searchable(2)) and n > first and n, 30, "the right request's lines"
    )
    reason = next(
        field(d, "labels.reason")
        for d in fetch(reader, lab4.variables["REFUSED"])[0]
        if field(d, "event.action") == "debug_refused"
    )
    lab4.passes(f"debug={total} reason={reason}")
    lab4.passes(f"debug={total - first} reason={reason}")
    lab4.fails(f"debug={total + 2} reason={reason}", "audit line")
    other = "missing token" if reason == "bad token" else "bad token"
    lab4.fails(f"debug={total} reason={other}", "labels.reason")


# --- lab 5 -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab5(stack: Stack, labs_dir: Path) -> Attendee:
    return Attendee.start(labs_dir, 5)


def test_lab5_literal(lab5: Attendee) -> None:
    """The callee's access line in the page's _search: service, url.path, ms; they PASS."""

    def read(out: str, values: list[Any]) -> str:
        line = callee_access(values)
        ms = round(line["event"]["duration"] / 1e6)
        return f"service={line['service']['name']} path={line['url']['path']} ms={ms}"

    answer_until_pass(lab5, read)


def test_lab5_mistakes(lab5: Attendee) -> None:
    """The caller's access line, its dependency_call line and nanoseconds FAIL naming them;
    the short service name PASSes."""
    _, values = lab5.run_page()
    lines = [hit for value in values for hit in hits(value)]
    callee = callee_access(values)
    ns = callee["event"]["duration"]
    caller = next(h for h in lines if h["message"].startswith("GET /api/orders/"))
    whole = round(caller["event"]["duration"] / 1e6)
    lab5.fails(f"service=trackstack-service path={caller['url']['path']} ms={whole}", "waited")
    lab5.fails(f"service=trackstack-service path=/api/item ms={round(ns / 1e6)}", "caller's view")
    lab5.fails(f"service=trackstack-orders path=/api/item ms={ns}", "nanoseconds")
    lab5.passes(f"service=orders path=/api/item ms={round(ns / 1e6)}")


# --- lab 6 -------------------------------------------------------------------------------------


def test_lab6(stack: Stack, labs_dir: Path, reader: Elasticsearch) -> None:
    """Lab 6 stops Elasticsearch, so one run serves both attendees: every line instead of
    access lines (in total or in during) and the whole run as the window FAIL naming them;
    the page's counts PASS once Filebeat has caught up (the page says: count again)."""
    try:
        attendee = Attendee.start(labs_dir, 6, "--before 3 --down 0 --after 3")
    finally:
        if native("elasticsearch.sh", "status").returncode != 0:
            native("elasticsearch.sh", "start")

    def read(out: str, values: list[Any]) -> str:
        counts = [value["count"] for value in values if "count" in value]
        return f"total={counts[0]} during={counts[1]}"

    answer = answer_until_pass(attendee, read, tries=30)
    total = int(answer.split()[0].split("=")[1])
    every = reader.count(
        index=INDEX_PATTERN, query={"prefix": {"tracking_id": attendee.variables["PREFIX"]}}
    )["count"]
    attendee.fails(f"total={every} during=1", "every line")
    attendee.fails(f"total={total} during={total}", "whole run")
    attendee.fails(f"total={total} during={every}", "every line, not one per request")


# --- lab 7 -------------------------------------------------------------------------------------


def test_lab7(stack: Stack, labs_dir: Path) -> None:
    """The page's _search prints the failed checkout's released DEBUG lines; the coupon they
    name PASSes; an ordinary coupon and the ERROR line's own words FAIL, naming the mistake."""
    attendee = Attendee.start(labs_dir, 7)

    def read(out: str, values: list[Any]) -> str:
        assert "debug_released" in out or "held DEBUG records" in out  # make trace shows it
        messages = [hit["message"] for hit in hits(values[-1])]
        (named,) = [m for m in messages if m.startswith("coupon ")]
        return f"coupon={named.split()[1]}"

    answer_until_pass(attendee, read)
    attendee.fails("coupon=WELCOME10", "ordinary coupon")
    attendee.fails("coupon=percent", "ERROR line says")
