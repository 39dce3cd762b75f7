"""The soak's ledger: what the service wrote against what Elasticsearch holds, line by line.

Every line the service writes (``.run/logs/*.ndjson*``, rotated files included) is one
document whose ``_id`` is the line's ``event.id``. So per tracking ID, the distinct event.ids
in the files must equal the documents in Elasticsearch: fewer documents = lines lost, more =
duplicates. On top, every ID needs the documents its endpoint must produce (the checks of
``loadgen.expectations``, as `make verify` does): that catches lines the service never wrote.
A line Elasticsearch refused is in the dead-letter index (loadgen.deadletter): it counts as
dead-lettered, not lost, and explains the expected documents its ID then lacks.
A run's lines are those after where each file ended when it began (``snapshot``). ``settle``
counts until every ID balances; ``Ledger`` is its result.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elasticsearch import Elasticsearch
from loadgen import deadletter
from loadgen.elastic import INDEX_PATTERN, REPO
from loadgen.expectations import Check
from loadgen.manifest import Record
from loadgen.verify import BATCH, Expected, Found, expected_by_id, lacking, search_batch
from loadgen.watch import SLACK_MS, batches, now_ms

if TYPE_CHECKING:  # soak.faults imports this module
    from soak.faults import Fault

LOG_DIR = REPO / ".run" / "logs"
FILEBEAT_OUT = REPO / ".run" / "filebeat" / "filebeat.out"  # native/filebeat.sh appends here
LOG_GLOB = "*.ndjson*"  # the live files and the rotated <name>.ndjson.<time> ones
# What trackstack/ecs.py writes instead of a record it cannot fit into the line bound, and
# the mark it leaves where it cut a string to fit (JSON-escaped, as every line is ASCII).
TOO_LARGE = "log record too large to write; dropped its fields"
CUT_MARK = b"[truncated]"
FileKey = tuple[int, int]  # (st_dev, st_ino): a file keeps it when renamed
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
# Undecodable documents carry Filebeat's read time; look this long after each fault for them.
DECODE_LOOKAHEAD_MS = 30_000.0
LEDGER_POLL_S = 2.0


def snapshot(log_dir: Path = LOG_DIR) -> dict[FileKey, int]:
    """Where each log file ends now, by identity (a rotation renames, the inode stays)."""
    ends: dict[FileKey, int] = {}
    for path in log_dir.glob(LOG_GLOB):
        info = path.stat()
        ends[(info.st_dev, info.st_ino)] = info.st_size
    return ends


@dataclass
class Lines:
    """The lines written since a snapshot, for the tracking IDs asked about."""

    event_ids: dict[str, set[str]] = field(default_factory=dict)  # tracking ID -> event.ids
    where: dict[str, str] = field(default_factory=dict)  # event.id -> "file:line"
    repeated: int = 0  # lines whose event.id an earlier line already had
    not_json: list[str] = field(default_factory=list)  # "file:line: start of the line"
    without_event_id: int = 0
    too_large: int = 0  # fallback lines for oversized records: they carry no tracking_id
    cut: dict[str, int] = field(default_factory=dict)  # tracking ID -> lines cut to the bound
    total: int = 0  # every complete line read, any tracking ID or none
    files: int = 0
    files_rotated: int = 0  # <name>.ndjson.<time>

    def count(self, tracking_id: str) -> int:
        return len(self.event_ids.get(tracking_id, ()))


def read_lines(ids: Container[str], since: Mapping[FileKey, int], log_dir: Path = LOG_DIR) -> Lines:
    """Every complete line written after ``since`` in every log file (a file not in ``since``
    is new: read from its start). A line still being written (no newline yet) waits."""
    lines = Lines()
    for path in sorted(log_dir.glob(LOG_GLOB)):
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            continue
        with handle:
            info = os.fstat(handle.fileno())
            start = since.get((info.st_dev, info.st_ino), 0)
            if start >= info.st_size:
                continue
            handle.seek(start)
            lines.files += 1
            lines.files_rotated += not path.name.endswith(".ndjson")
            for number, raw in enumerate(handle, 1):
                if not raw.endswith(b"\n"):
                    break
                lines.total += 1
                _take(lines, ids, raw, f"{path.name}:+{number}")
    return lines


def _take(lines: Lines, ids: Container[str], raw: bytes, where: str) -> None:
    try:
        doc: Any = json.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        lines.not_json.append(f"{where}: {raw[:120]!r}")
        return
    event_id = doc.get("event.id")
    if not isinstance(event_id, str):
        lines.without_event_id += 1
        return
    if doc.get("message") == TOO_LARGE:
        lines.too_large += 1
    tracking_id = doc.get("tracking_id")
    if not isinstance(tracking_id, str) or tracking_id not in ids:
        return
    if CUT_MARK in raw:
        lines.cut[tracking_id] = lines.cut.get(tracking_id, 0) + 1
    seen = lines.event_ids.setdefault(tracking_id, set())
    if event_id in seen:
        lines.repeated += 1
    seen.add(event_id)
    lines.where[event_id] = where


@dataclass(frozen=True)
class Balance:
    """One tracking ID: lines written, documents found, expected documents still lacking."""

    lines: int
    docs: int
    lacks: tuple[str, ...] = ()
    dead: int = 0  # lines in the dead-letter index

    @property
    def lost(self) -> int:
        return max(0, self.lines - self.docs - self.dead)

    @property
    def duplicated(self) -> int:
        return max(0, self.docs + self.dead - self.lines)

    @property
    def missing(self) -> bool:
        """Lost in any way: a line without its document, no line at all, an expected
        document absent (a line the service never wrote) unless a dead-lettered line is it."""
        lacks = bool(self.lacks) and not self.dead
        return self.lost > 0 or self.lines == 0 or lacks

    @property
    def settled(self) -> bool:
        """Every line accounted for, by a document or a dead letter: waiting longer cannot
        change the count."""
        return not self.missing and not self.duplicated

    @property
    def complete(self) -> bool:
        return self.settled and not self.dead


def balances(
    expected: Mapping[str, Expected],
    lines: Lines,
    found: Found,
    dead: Mapping[str, int] | None = None,
) -> dict[str, Balance]:
    """Per tracking ID: lines written, documents found, checks lacking, dead-lettered lines."""
    dead = dead or {}
    return {
        tracking_id: Balance(
            lines.count(tracking_id),
            found.get(tracking_id, {}).get("*", 0),
            tuple(check.what for check in lacking(item, found)),
            dead.get(tracking_id, 0),
        )
        for tracking_id, item in expected.items()
    }


def search_dead(es: Elasticsearch, ids: Sequence[str], since_ms: float) -> dict[str, int]:
    """Dead-lettered lines per tracking ID (only IDs that have any); one count when none."""
    if not deadletter.count(es, since_ms):
        return {}
    return {i: len(docs) for i, docs in deadletter.find(es, ids, since_ms).items()}


@dataclass(frozen=True)
class Tally:
    """A set of tracking IDs summed up: one row of the soak's table."""

    ids: int
    lines: int
    docs: int
    lost_ids: int
    lost_lines: int
    duplicated: int
    dead_ids: int = 0
    dead_lines: int = 0

    @classmethod
    def of(cls, balance: Mapping[str, Balance], ids: Iterable[str]) -> Tally:
        rows = [balance[i] for i in dict.fromkeys(ids) if i in balance]
        return cls(
            ids=len(rows),
            lines=sum(b.lines for b in rows),
            docs=sum(b.docs for b in rows),
            lost_ids=sum(b.missing for b in rows),
            lost_lines=sum(b.lost for b in rows),
            duplicated=sum(b.duplicated for b in rows),
            dead_ids=sum(b.dead > 0 for b in rows),
            dead_lines=sum(b.dead for b in rows),
        )


def search_found(es: Elasticsearch, items: Sequence[Expected], since_ms: float) -> Found:
    """Documents per tracking ID (``"*"``) and per expectation check, BATCH IDs a search."""
    found: Found = {}
    for batch in batches(items, BATCH):
        found |= search_batch(es, batch, since_ms)
    return found


def decode_error_query() -> dict[str, Any]:
    """Documents Filebeat could not decode as one JSON object (ndjson add_error_key sets
    error.type json), or that lack what every service line has."""
    return {
        "bool": {
            "should": [
                {"term": {"error.type": "json"}},
                {"bool": {"must_not": {"exists": {"field": "event.dataset"}}}},
            ],
            "minimum_should_match": 1,
        }
    }


def decode_errors(es: Elasticsearch, windows: Mapping[str, tuple[float, float]]) -> dict[str, int]:
    """Undecodable documents per time window (epoch ms, by @timestamp: for such a document
    that is when Filebeat read the line)."""
    if not windows:
        return {}
    result = es.search(
        index=INDEX_PATTERN,
        size=0,
        query=decode_error_query(),
        aggs={
            "windows": {
                "filters": {
                    "filters": {
                        name: {
                            "range": {
                                "@timestamp": {
                                    "gte": int(start),
                                    "lte": int(end),
                                    "format": "epoch_millis",
                                }
                            }
                        }
                        for name, (start, end) in windows.items()
                    }
                }
            }
        },
    )
    buckets = result["aggregations"]["windows"]["buckets"]
    return {name: int(buckets[name]["doc_count"]) for name in windows}


def unmatched_lines(
    es: Elasticsearch, tracking_id: str, lines: Lines, since_ms: float
) -> tuple[list[str], list[str]]:
    """(where the lines without a document are, _ids of documents without a line)."""
    result = es.search(
        index=INDEX_PATTERN,
        size=1000,
        source=False,
        query={
            "bool": {
                "filter": [
                    {"term": {"tracking_id": tracking_id}},
                    {"range": {"@timestamp": {"gte": int(since_ms), "format": "epoch_millis"}}},
                ]
            }
        },
    )
    docs = {hit["_id"] for hit in result["hits"]["hits"]}
    written = lines.event_ids.get(tracking_id, set())
    return (
        sorted(lines.where.get(e, e) for e in written - docs),
        sorted(docs - written),
    )


def filebeat_events(since: int, path: Path = FILEBEAT_OUT) -> Counter[str]:
    """Filebeat's output event counts, summed over its "Non-zero metrics in the last 30s"
    lines written after byte ``since``: ``duplicates`` (re-sent lines Elasticsearch refused
    because their _id exists: the dedup at work), ``dropped`` (given up on), ``failed``
    (sends that failed and were retried). A SIGKILLed process never logs its last period."""
    totals: Counter[str] = Counter()
    if not path.is_file():
        return totals
    with path.open("rb") as handle:
        handle.seek(since)
        for raw in handle:
            if b"Non-zero metrics" not in raw:
                continue
            try:
                metrics = json.loads(raw)["monitoring"]["metrics"]
                events = metrics.get("libbeat", {}).get("output", {}).get("events", {})
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            for key in ("duplicates", "dropped", "failed"):
                totals[key] += int(events.get(key, 0))
    return totals


@dataclass
class Ledger:
    expected: dict[str, Expected]
    lines: Lines
    balance: dict[str, Balance]
    waited_s: float
    lost_detail: list[str]
    dead_letters: int = 0  # documents in the dead-letter index since the run began
    undecodable: dict[str, int] = field(default_factory=dict)  # decode_windows' names
    filebeat: Counter[str] = field(default_factory=Counter)  # filebeat_events

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
