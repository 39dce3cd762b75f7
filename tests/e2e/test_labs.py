"""Every workshop lab end to end on the native stack: `make lab N=...` makes the scenario, a
solver answers it the way the lab's answer key does (Elasticsearch queries as the reader user,
from the public briefing file lab<N>.json; never the hidden lab<N>.answer.json), and
`make lab-check` must say PASS to that answer and FAIL, with a hint, to a wrong one."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from elasticsearch import Elasticsearch
from loadgen.elastic import INDEX_PATTERN, REPO, connect, read_env_file, secrets_dir
from loadgen.trace import fetch, field
from tests.e2e.conftest import SERVICE, Stack, native, poll_until

Facts = dict[str, Any]


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


def docs_of(es: Elasticsearch, tracking_id: str) -> list[dict[str, Any]]:
    return fetch(es, tracking_id)[0]


def access_lines(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if field(d, "event.dataset") == "trackstack.access"]


# --- the solvers: each does what docs/workshop/lab<N>.md's answer key says -----------------------


def solve_lab1(es: Elasticsearch, facts: Facts) -> tuple[str, str]:
    """Every document with the tracking ID, from both services, counted."""
    count = len(docs_of(es, facts["tracking_id"]))
    return f"lines={count}", f"lines={count - 1}"


def solve_lab2(es: Elasticsearch, facts: Facts) -> tuple[str, str]:
    """The ERROR line of that tracking ID: its error.type and error.message."""
    errors = [d for d in docs_of(es, facts["tracking_id"]) if field(d, "log.level") == "error"]
    assert len(errors) == 1, errors
    error_type, message = field(errors[0], "error.type"), field(errors[0], "error.message")
    return f"{error_type}: {message}", f"{error_type}: simulated failure: disk full"


def solve_lab3(es: Elasticsearch, facts: Facts) -> tuple[str, str]:
    """The dependency call failed, so the callee is where it went wrong: its own access line."""
    docs = docs_of(es, facts["tracking_id"])
    call = next(d for d in docs if field(d, "event.action") == "dependency_call")
    assert field(call, "event.outcome") == "failure"
    callee = next(d for d in access_lines(docs) if field(d, "url.path") == field(call, "url.path"))
    service, status = field(callee, "service.name"), field(callee, "http.response.status_code")
    return f"service={service} status={status}", f"service=trackstack-service status={status}"


def solve_lab4(es: Elasticsearch, facts: Facts) -> tuple[str, str]:
    """Send the debug request with the token from .secrets/service.env, count its DEBUG lines;
    read the refused request's labels.reason."""
    token = read_env_file(secrets_dir() / "service.env")["DEBUG_LOG_TOKEN"]
    mine = facts["tracking_id"]
    response = requests.get(
        f"{SERVICE}{facts['path']}",
        headers={"X-Tracking-ID": mine, "X-Debug-Log": "1", "X-Debug-Token": token},
        timeout=10,
    )
    assert response.headers.get("X-Debug-Log") == "on"
    docs = poll_until(
        lambda: (d := docs_of(es, mine)) and access_lines(d) and d, 30, "the debug request's lines"
    )
    debug = sum(field(d, "log.level") == "debug" for d in docs)
    assert token not in json.dumps(docs)
    refused = next(
        d for d in docs_of(es, facts["refused_id"]) if field(d, "event.action") == "debug_refused"
    )
    reason = field(refused, "labels.reason")
    return f"debug={debug} reason={reason}", f"debug={debug + 1} reason={reason}"


def solve_lab5(es: Elasticsearch, facts: Facts) -> tuple[str, str]:
    """The caller's time went into its dependency call, so the slow hop is the callee's access
    line: its service.name, url.path and event.duration."""
    docs = docs_of(es, facts["tracking_id"])
    call = next(d for d in docs if field(d, "event.action") == "dependency_call")
    caller = next(d for d in access_lines(docs) if field(d, "service.name") == "trackstack-service")
    assert field(call, "event.duration") > 0.8 * field(caller, "event.duration")
    callee = next(d for d in access_lines(docs) if d is not caller)
    ms = round(field(callee, "event.duration") / 1e6)
    service, path = field(callee, "service.name"), field(callee, "url.path")
    return f"service={service} path={path} ms={ms}", f"service={service} path={path} ms={ms * 3}"


def solve_lab6(es: Elasticsearch, facts: Facts) -> tuple[str, str]:
    """Access lines of the run's prefix, then the same within the outage. The IDs are numbered
    in sending order, so once the highest number is there, Filebeat has caught up."""
    run = [
        {"prefix": {"tracking_id": facts["prefix"]}},
        {"term": {"event.dataset": "trackstack.access"}},
    ]

    seen: list[tuple[float, int]] = []

    def caught_up() -> int | None:
        """The count once it equals the highest number and has not grown for 5 s."""
        newest = es.search(
            index=INDEX_PATTERN,
            query={"bool": {"filter": run}},
            size=1,
            sort=[{"tracking_id": "desc"}],
        )["hits"]["hits"]
        count = int(es.count(index=INDEX_PATTERN, query={"bool": {"filter": run}})["count"])
        highest = int(newest[0]["_source"]["tracking_id"].removeprefix(facts["prefix"]))
        if count != highest or (seen and seen[-1][1] != count):
            seen.clear()
        seen.append((time.monotonic(), count))
        return count if count == highest and seen[-1][0] - seen[0][0] >= 5 else None

    total = poll_until(caught_up, 90, "the run's count to settle", every_s=1)
    window = {"range": {"@timestamp": {"gte": facts["down_from"], "lte": facts["down_to"]}}}
    during = int(es.count(index=INDEX_PATTERN, query={"bool": {"filter": [*run, window]}})["count"])
    assert 0 < during < total
    return f"total={total} during={during}", f"total={total - 1} during={during}"


SOLVERS: dict[int, Callable[[Elasticsearch, Facts], tuple[str, str]]] = {
    1: solve_lab1,
    2: solve_lab2,
    3: solve_lab3,
    4: solve_lab4,
    5: solve_lab5,
    6: solve_lab6,
}


@pytest.mark.parametrize(
    ("lab", "options"),
    [
        pytest.param(1, "", id="lab1"),
        pytest.param(2, "", id="lab2"),
        # Seed 2 makes the dependency too slow (the caller times out), seed 3 makes it fail.
        pytest.param(3, "--seed 2", id="lab3-slow-dependency"),
        pytest.param(3, "--seed 3", id="lab3-failing-dependency"),
        pytest.param(4, "", id="lab4"),
        pytest.param(5, "", id="lab5"),
        # Lab 6 stops Elasticsearch: as short as the native start allows (~20 s down).
        pytest.param(6, "--before 3 --down 0 --after 3", id="lab6"),
    ],
)
def test_lab_is_solved_by_its_answer_key(
    stack: Stack, reader: Elasticsearch, labs_dir: Path, lab: int, options: str
) -> None:
    """make lab N creates it; the answer key's solution PASSes, a wrong answer FAILs with a hint."""
    try:
        created = make(labs_dir, "lab", f"N={lab}", f"LAB_OPTS={options}")
    finally:
        if lab == 6 and native("elasticsearch.sh", "status").returncode != 0:
            native("elasticsearch.sh", "start")
    assert created.returncode == 0, f"{created.stdout}\n{created.stderr}"
    assert "answer with:  make lab-check" in created.stdout
    assert (labs_dir / f"lab{lab}.answer.json").is_file()
    facts = json.loads((labs_dir / f"lab{lab}.json").read_text())

    right, wrong = SOLVERS[lab](reader, facts)

    passed = make(labs_dir, "lab-check", f"N={lab}", f"ANSWER={right}")
    assert passed.returncode == 0, f"{right!r}: {passed.stdout}{passed.stderr}"
    assert "PASS" in passed.stdout
    failed = make(labs_dir, "lab-check", f"N={lab}", f"ANSWER={wrong}")
    assert failed.returncode != 0, f"{wrong!r}: {failed.stdout}{failed.stderr}"
    assert "FAIL" in failed.stdout and "hint:" in failed.stdout
