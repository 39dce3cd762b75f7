"""make load -> make verify -> make trace against the real stack, run as the Makefile runs them
(``python -m loadgen <subcommand>`` in a subprocess)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from loadgen import manifest
from loadgen.elastic import connect
from loadgen.verify import search_mentions
from setup.project import REPO, poll_until
from tests.helpers import SERVICE, VERIFIED, Stack, loadgen

RATE, DURATION = 20, 20


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.rstrip().splitlines()[-1]


@dataclass
class Run:
    folder: Path
    load: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def run(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """One short load (20 req/s for 20 s) into a folder of its own."""
    runs = tmp_path_factory.mktemp("runs")
    result = loadgen(
        "load", "--rate", str(RATE), "--duration", str(DURATION), "--runs-dir", str(runs)
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    yield Run(manifest.latest_run(runs), result)


def test_load_then_verify_finds_every_tracking_id(run: Run) -> None:
    """Every ID of a 20 s load is found with its expected documents: N/N, N >= 300."""
    records = manifest.read(run.folder)
    assert len(records) >= 300, run.load.stdout
    rate = re.search(r"rate: ([\d.]+) req/s achieved", run.load.stdout)
    assert rate and float(rate[1]) >= 0.85 * RATE, run.load.stdout
    assert any(r.client_chose for r in records) and any(r.replaced for r in records)
    for report in ("report.html", "locust_stats.csv", "summary.png", manifest.SEARCHABLE):
        assert (run.folder / report).stat().st_size > 0, report

    verified = loadgen("verify", str(run.folder))
    assert verified.returncode == 0, f"{verified.stdout}\n{verified.stderr}"
    match = VERIFIED.match(last_line(verified))
    assert match, last_line(verified)
    found, total = int(match[1]), int(match[2])
    assert found == total == len({r.tracking_id for r in records if r.tracking_id})
    assert total >= 300
    assert "MISSING" not in verified.stdout
    assert re.search(r"time to searchable .*: p50 [\d.]+ s", verified.stdout)
    assert "secrets: the synthetic password is in none of the documents" in verified.stdout
    # The slowest and the failed (here /api/error's 500s) each with a timeline page.
    section = verified.stdout.split("slowest requests", 1)[1].split("\nverified ", 1)[0]
    pages = re.findall(r"  (\S+/timelines/\S+\.html)$", section, re.M)
    assert len(pages) == 10 and "failed requests" in section, section
    for page in pages:
        text = (REPO / page if not page.startswith("/") else Path(page)).read_text()
        assert text.startswith("<!DOCTYPE html>") and 'class="bar request' in text, page


def test_the_leak_search_finds_what_is_there(run: Run) -> None:
    """The search verify uses for the password finds text that is logged: the error detail."""
    records = manifest.read(run.folder)
    errors = [r.tracking_id for r in records if r.endpoint == "error" and r.tracking_id]
    assert errors
    since = min(r.sent_ms for r in records) - 60_000
    es = connect()
    assert set(search_mentions(es, errors, since, "card declined")) == set(errors)  # message
    found = search_mentions(es, errors, since, "password%3D[REDACTED]")  # url.query, redacted
    assert set(found) == set(errors)


def test_verify_fails_naming_an_id_that_was_never_sent(run: Run, tmp_path: Path) -> None:
    """A manifest line whose ID never reached the service: verify exits 1 and names it."""
    folder = tmp_path / "tampered"
    folder.mkdir()
    shutil.copy(run.folder / manifest.RUN_INFO, folder)
    real = (run.folder / manifest.MANIFEST).read_text().splitlines()[:3]
    ghost = json.loads(real[0]) | {
        "tracking_id": f"never-sent-{uuid.uuid4().hex[:12]}",
        "entry": "orders",
        "endpoint": "orders",
        "path": "/api/orders/1",
    }
    (folder / manifest.MANIFEST).write_text("\n".join([*real, json.dumps(ghost)]) + "\n")

    result = loadgen("verify", str(folder), "--timeout", "3")
    assert result.returncode == 1, result.stdout
    assert f"MISSING {ghost['tracking_id']}" in result.stdout
    assert "no documents at all" in result.stdout
    assert "Kibana: none answers at" in result.stdout  # native: no link that cannot open
    assert last_line(result).startswith(f"verified 3/4 tracking IDs in {folder.name}: 1 MISSING")


def test_trace_shows_one_request_across_both_services(stack: Stack) -> None:
    """An /api/orders call's timeline has both services' lines in causal order, says so, and
    says there is no Kibana in native mode; `make trace | head` ends quietly, and the ID may be
    given in the quotes of the JSON body it was copied from."""
    tracking_id = f"e2e-trace-{uuid.uuid4().hex[:12]}"
    response = requests.get(
        f"{SERVICE}/api/orders/4242", headers={"X-Tracking-ID": tracking_id}, timeout=10
    )
    assert response.status_code == 200
    poll_until(
        lambda: (
            len(
                [
                    d
                    for d in stack.by_id(tracking_id)
                    if d["event"]["dataset"] == "trackstack.access"
                ]
            )
            == 2
        ),
        30,
        "both access documents",
    )

    result = loadgen("trace", tracking_id)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"tracking_id {tracking_id}: 5 documents from 2 services" in out  # + the step line
    # Causal order, whatever the two services' millisecond stamps say: the callee's access
    # line comes before the dependency_call line that waited for it.
    assert "order: by cause" in out
    first = out.index("looking up order 4242")
    downstream = out.index("GET /api/item 200")
    call = out.index("dependency call GET 127.0.0.1:8001/api/item -> 200")
    last = out.index("GET /api/orders/4242 200")
    assert first < downstream < call < last, out
    lines = out.splitlines()
    assert "trackstack-orders" in next(line for line in lines if "GET /api/item 200" in line)
    assert "trackstack-service" in next(line for line in lines if "GET /api/orders" in line)
    assert last_line(result).startswith("Kibana: none answers at")

    piped = subprocess.run(
        f"make trace ID='\"{tracking_id}\"' | head -1",
        shell=True,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert piped.stdout.startswith(f"tracking_id {tracking_id}: 5 documents"), piped.stdout
    assert "Traceback" not in piped.stderr and "Error" not in piped.stderr, piped.stderr


def test_trace_prints_an_errors_stack_trace(stack: Stack) -> None:
    """A 500's trace shows the error type, message and stack trace under its line."""
    tracking_id = f"e2e-trace-error-{uuid.uuid4().hex[:12]}"
    requests.get(f"{SERVICE}/api/error", headers={"X-Tracking-ID": tracking_id}, timeout=10)
    poll_until(
        lambda: any(d["log"]["level"] == "error" for d in stack.by_id(tracking_id)),
        30,
        "the error document",
    )
    result = loadgen("trace", tracking_id)
    assert result.returncode == 0, result.stderr
    assert "error RuntimeError: simulated failure" in result.stdout
    assert "Traceback (most recent call last)" in result.stdout


def test_trace_of_an_unknown_id_fails(stack: Stack) -> None:
    """No documents: exit 1 with a message naming the ID, not an empty table."""
    tracking_id = f"e2e-no-such-{uuid.uuid4().hex[:12]}"
    result = loadgen("trace", tracking_id, "--wait", "1")
    assert result.returncode == 1
    assert f"no documents with tracking_id {tracking_id}" in result.stdout
