"""orders' per-process log files (LOG_DIR) through the real native Filebeat: a process writes
under a moved clock that crosses three UTC midnights while it logs, so its file is renamed
three times mid-stream; Elasticsearch must then hold every line exactly once. This proves the
native input's glob (``*.ndjson*``) and file identity follow the renamed files."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from loadgen.elastic import REPO
from setup.project import poll_until
from tests.e2e.conftest import Stack

LINES = 600
WRITER = """
import logging, sys, threading, os
from datetime import UTC, datetime, timedelta
import trackstack
from orders.config import Settings
from orders.logfiles import DailyFile

run, directory, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
now = [datetime(2026, 1, 1, 22, tzinfo=UTC)]
daily = DailyFile(directory, f"orders-rotation-e2e-{os.getpid()}", 7, clock=lambda: now[0])
daily.open()
handler = trackstack.configure_logging(Settings(service_name="orders-rotation-e2e").tracking())
log = logging.getLogger("orders.e2e")

def write(start, stop):
    for n in range(start, stop):
        log.info("rotation line %d", n, extra={"tracking_id": run})

half = total // 2
threads = [threading.Thread(target=write, args=(k * half, (k + 1) * half)) for k in range(2)]
for thread in threads:
    thread.start()
for _ in range(3):  # three midnights while both threads write
    threading.Event().wait(0.05)
    now[0] += timedelta(days=1)
    daily.rollover_if_due()
for thread in threads:
    thread.join()
handler.flush()
"""


def test_renamed_daily_files_are_shipped_whole(stack: Stack) -> None:
    """Lines written across 3 renames at moved midnights: each in Elasticsearch exactly once."""
    run = f"rot-{uuid.uuid4()}"
    logs = REPO / ".run" / "logs"
    before = set(logs.glob("orders-rotation-e2e-*"))
    subprocess.run(
        [sys.executable, "-c", WRITER, run, str(logs), str(LINES)],
        cwd=REPO,
        check=True,
        timeout=120,
        stdout=subprocess.DEVNULL,
    )
    files = sorted(set(logs.glob("orders-rotation-e2e-*")) - before)
    try:
        assert [f.name.rsplit(".", 1)[-1] for f in files if not f.name.endswith(".ndjson")] == [
            "2026-01-01",
            "2026-01-02",
            "2026-01-03",
        ]
        written = [
            raw
            for path in files
            for raw in Path(path).read_bytes().splitlines()
            if run.encode() in raw
        ]
        assert len(written) == LINES
        query = {"term": {"tracking_id": run}}
        poll_until(lambda: stack.count(query) >= LINES, 120, f"{LINES} lines of {run}")
        docs = stack.docs(query, size=LINES + 100)
        messages = sorted(doc["message"] for doc in docs)
        assert messages == sorted(f"rotation line {n}" for n in range(LINES))
    finally:
        for path in files:
            path.unlink(missing_ok=True)
