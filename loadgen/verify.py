"""`make verify`: every tracking ID of a run, found in Elasticsearch with the documents its
endpoint must produce (loadgen.expectations), or named as missing with a Kibana link.

Batched: one search per 1000 IDs, a ``terms`` aggregation on tracking_id with one
``filters`` bucket per check, repeated every second for the IDs still incomplete until all
are complete or the deadline passes (late lines: a Filebeat restart, a job still running).
An ID whose lines Elasticsearch refused is reported as dead-lettered, with the reason, not as
missing: its lines are in the dead-letter index (loadgen.deadletter).

The report also names the slowest and the failed requests (``notable``), each with the path
of its timeline page (loadgen.timeline), written into ``runs/<time>/timelines/``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch
from loadgen import chart, deadletter, expectations, kibana, manifest, report, trace
from loadgen.elastic import connect, credentials, es_url
from loadgen.expectations import Check
from loadgen.manifest import Record, Sighting
from loadgen.mix import MIX, SYNTHETIC_PASSWORD
from loadgen.watch import SLACK_MS, batches, now_ms, per_id, since_query
from setup.project import INDEX_PATTERN

BATCH = 1000
POLL_S = 1.0
SHOW_MISSING = 50
SHOW_TIMELINES = 5  # slowest and failed requests drawn each: one search and one page apiece
TIMELINES = "timelines"  # in the run folder
_MIX_ORDER = {entry.name: i for i, entry in enumerate(MIX)}

# tracking ID -> check key -> documents matching it
Found = dict[str, dict[str, int]]


@dataclass
class Expected:
    """One tracking ID: the requests that carried it and every check they need."""

    tracking_id: str
    records: list[Record]
    checks: dict[str, Check] = field(default_factory=dict)


def expected_by_id(records: Iterable[Record]) -> dict[str, Expected]:
    result: dict[str, Expected] = {}
    for record in records:
        if record.tracking_id is None:
            continue
        item = result.setdefault(record.tracking_id, Expected(record.tracking_id, []))
        item.records.append(record)
        item.checks |= {check.key: check for check in expectations.checks_for(record)}
    return result


def lacking(item: Expected, found: Mapping[str, Mapping[str, int]]) -> list[Check]:
    """The checks of ``item`` that no document satisfies yet."""
    counts = found.get(item.tracking_id, {})
    return [check for key, check in item.checks.items() if counts.get(key, 0) < 1]


def parse_buckets(result: Mapping[str, Any]) -> Found:
    """``{"ids": terms -> "checks": filters}`` aggregation -> counts per ID and check,
    plus ``"*"``: every document of the ID."""
    found: Found = {}
    for bucket in result["aggregations"]["ids"]["buckets"]:
        checks = bucket["checks"]["buckets"]
        found[bucket["key"]] = {"*": bucket["doc_count"]} | {
            key: value["doc_count"] for key, value in checks.items()
        }
    return found


def search_batch(es: Elasticsearch, items: Sequence[Expected], since_ms: float) -> Found:
    checks = expectations.union(item.checks.values() for item in items)
    result = es.search(
        index=INDEX_PATTERN,
        size=0,
        query=since_query([item.tracking_id for item in items], since_ms),
        aggs={
            "ids": per_id(len(items))
            | {
                "aggs": {
                    "checks": {"filters": {"filters": {key: c.query for key, c in checks.items()}}}
                },
            }
        },
    )
    return parse_buckets(result.body)


def search_mentions(
    es: Elasticsearch, ids: Sequence[str], since_ms: float, text: str
) -> dict[str, int]:
    """Per tracking ID, how many of its documents contain ``text`` (only IDs that have any)."""
    counts: dict[str, int] = {}
    for batch in batches(ids, BATCH):
        query = since_query(batch, since_ms)
        query["bool"]["filter"].append(expectations.mentions(text))
        result = es.search(
            index=INDEX_PATTERN,
            size=0,
            query=query,
            aggs={"ids": per_id(len(batch))},
        )
        for bucket in result["aggregations"]["ids"]["buckets"]:
            counts[bucket["key"]] = bucket["doc_count"]
    return counts


@dataclass
class Outcome:
    expected: dict[str, Expected]
    found: Found
    sightings: dict[str, Sighting]  # this verify's own first sightings
    searches: int
    waited_s: float

    @property
    def missing(self) -> list[Expected]:
        return [item for item in self.expected.values() if lacking(item, self.found)]


def check_all(
    expected: dict[str, Expected],
    search: Callable[[Sequence[Expected], float], Found],
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_round: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Search until every ID is complete or ``timeout_s`` has passed since the first search."""
    since = min(r.sent_ms for item in expected.values() for r in item.records) - SLACK_MS
    found: Found = {}
    sightings: dict[str, Sighting] = {}
    last_look: dict[str, float] = {}
    pending = list(expected.values())
    started = clock()
    searches = 0
    while True:
        look_ms = now_ms()
        for batch in batches(pending, BATCH):
            found |= search(batch, since)
            searches += 1
        for item in pending:
            if item.tracking_id in found and item.tracking_id not in sightings:
                sightings[item.tracking_id] = Sighting(
                    item.tracking_id, look_ms, last_look.get(item.tracking_id), "verify"
                )
            last_look[item.tracking_id] = look_ms
        pending = [item for item in pending if lacking(item, found)]
        if on_round is not None:
            on_round(len(expected) - len(pending), len(expected))
        if not pending or clock() - started >= timeout_s:
            return Outcome(expected, found, sightings, searches, clock() - started)
        sleep(POLL_S)


def _when(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3] + "Z"


def describe_missing(item: Expected, found: Found) -> list[str]:
    record = item.records[0]
    have = found.get(item.tracking_id, {}).get("*", 0)
    why = (
        "no documents at all"
        if not have
        else f"{have} documents, lacks: " + "; ".join(c.what for c in lacking(item, found))
    )
    return [
        f"MISSING {item.tracking_id}  ({record.entry}: {record.method} {record.path} -> "
        f"{record.status}, received {_when(record.received_ms)}): {why}",
        f"  {kibana.link_line(item.tracking_id)}",
    ]


def run(run_dir: Path, timeout_s: float) -> int:
    records = manifest.read(run_dir)
    expected = expected_by_id(records)
    no_response = [r for r in records if r.tracking_id is None]
    if not expected:
        print(f"verify: {manifest.shown(run_dir)} has no tracking IDs ({len(records)} requests)")
        return 1
    user = credentials()
    print(
        f"verify: {len(expected)} tracking IDs from {len(records)} requests in"
        f" {manifest.shown(run_dir)}; "
        f"searching {es_url()} as "
        f"{user[0] if user else 'anonymous'} (up to {timeout_s:g} s for late arrivals)",
        file=sys.stderr,
    )
    es = connect()

    last_said = [0.0, -1]  # when, and at what count, progress was last printed

    def progress(complete: int, total: int) -> None:
        # One line when the count moves or every 10 s, not one per poll.
        now = time.monotonic()
        if complete < total and (complete != last_said[1] or now - last_said[0] >= 10):
            print(
                f"verify: {complete}/{total} tracking IDs complete; waiting up to {timeout_s:g} s"
                " for the rest of their lines to become searchable...",
                file=sys.stderr,
            )
            last_said[:] = [now, complete]

    outcome = check_all(
        expected, lambda items, since: search_batch(es, items, since), timeout_s, on_round=progress
    )
    # The login body and /api/error's detail carried this password; no document may.
    since = min(r.sent_ms for r in records) - SLACK_MS
    leaks = search_mentions(es, list(expected), since, SYNTHETIC_PASSWORD)
    # Counted from the first request on (no clock slack: lines rejected just before the run
    # are not its own); IDs are looked up only when there is anything.
    dead_total = deadletter.count(es, min(r.sent_ms for r in records))
    dead = deadletter.find(es, list(expected), since) if dead_total else {}
    slowest, failed = notable(records)
    pages: dict[str, Path] = {}
    for record in [*slowest, *failed]:
        assert record.tracking_id is not None  # notable() picks answered requests only
        if record.tracking_id not in pages:
            docs, total = trace.fetch(es, record.tracking_id)
            pages[record.tracking_id] = trace.write_timeline(
                run_dir / TIMELINES,
                record.tracking_id,
                docs,
                dead.get(record.tracking_id, []),
                total,
            )
    drawn = describe_timelines(slowest, failed, pages)
    lines = _report(run_dir, records, outcome, no_response, leaks, dead, dead_total, drawn)
    print("\n".join(lines))
    (run_dir / "verify.txt").write_text("\n".join(lines) + "\n")
    return 1 if outcome.missing or leaks or dead_total else 0


def notable(records: Sequence[Record]) -> tuple[list[Record], list[Record]]:
    """(slowest, failed): the SHOW_TIMELINES answered requests with the highest client
    latency, and up to SHOW_TIMELINES failed ones: answers other than their endpoint's own
    first (report.is_ok), then the 5xx answers an endpoint gives on purpose (/api/error)."""
    answered = [r for r in records if r.tracking_id is not None]
    slowest = sorted(answered, key=lambda r: (-r.latency_ms, r.seq))[:SHOW_TIMELINES]
    failed = sorted(
        (r for r in answered if not report.is_ok(r) or r.status >= 500),
        key=lambda r: (report.is_ok(r), r.seq),
    )[:SHOW_TIMELINES]
    return slowest, failed


def describe_timelines(
    slowest: Sequence[Record], failed: Sequence[Record], pages: Mapping[str, Path]
) -> list[str]:
    """The report's section naming each notable request and the path of its timeline page."""

    def row(record: Record) -> str:
        page = pages.get(record.tracking_id or "")
        return (
            f"  {report.format_ms(record.latency_ms):>6} ms  {record.entry}: {record.method}"
            f" {record.path.partition('?')[0]} -> {record.status or 'no response'}"
            f"  {record.tracking_id}"
            f"  {manifest.shown(page) if page else '(not drawn)'}"
        )

    lines: list[str] = []
    if slowest:
        lines += ["slowest requests (client latency), each with its timeline:", *map(row, slowest)]
    if failed:
        lines += [
            "failed requests (not the endpoint's answer, then 5xx), each with its timeline:",
            *map(row, failed),
        ]
    return lines


def describe_dead(item: Expected, dead: Sequence[Mapping[str, Any]]) -> list[str]:
    record = item.records[0]
    reasons = list(dict.fromkeys(deadletter.reason(doc) for doc in dead))
    return [
        f"DEAD-LETTERED {item.tracking_id}  ({record.entry}: {record.method} {record.path} ->"
        f" {record.status}): {len(dead)} line{'s' if len(dead) != 1 else ''} refused by"
        f" Elasticsearch, kept in {deadletter.INDEX}: {'; '.join(reasons[:3])}",
        f"  make trace ID={item.tracking_id}",
    ]


def _report(
    run_dir: Path,
    records: list[Record],
    outcome: Outcome,
    no_response: list[Record],
    leaks: Mapping[str, int],
    dead: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    dead_total: int = 0,
    drawn: Sequence[str] = (),
) -> list[str]:
    dead = dead or {}
    expected = outcome.expected
    missing = [item for item in outcome.missing if item.tracking_id not in dead]
    dead_lettered = [item for item in expected.values() if item.tracking_id in dead]
    ids = list(expected.values())
    documents = sum(outcome.found.get(i.tracking_id, {}).get("*", 0) for i in ids)
    chosen = sum(any(r.client_chose for r in i.records) for i in ids)
    replaced = sum(any(r.replaced for r in i.records) for i in ids)
    checks = sum(len(i.checks) for i in ids)
    passed = checks - sum(len(lacking(i, outcome.found)) for i in ids)
    lines = [
        f"tracking IDs: {len(ids)} ({len(ids) - chosen - replaced} server-chosen, {chosen}"
        f" client-chosen, {replaced} invalid client IDs replaced by the server)",
        f"checks: {passed}/{checks} passed, {documents} documents"
        f" ({outcome.searches} search{'es' if outcome.searches != 1 else ''},"
        f" {outcome.waited_s:.1f} s)",
    ]
    per_entry: dict[str, list[Expected]] = {}
    for item in sorted(ids, key=lambda i: _MIX_ORDER.get(i.records[0].entry, len(_MIX_ORDER))):
        per_entry.setdefault(item.records[0].entry, []).append(item)
    rows = [("entry", "IDs", "complete", "documents each must have")]
    for entry, items in per_entry.items():
        complete = sum(not lacking(i, outcome.found) for i in items)
        kinds = dict.fromkeys(c.what for i in items for c in i.checks.values())
        rows.append((entry, str(len(items)), str(complete), "; ".join(kinds)))
    lines += ["", *report.table(rows, right=(1, 2)), ""]

    # Time to searchable: the load's own watch, else this verify's sightings that followed a miss.
    known = manifest.read_sightings(run_dir)
    new = {k: v for k, v in outcome.sightings.items() if k not in known}
    if new:
        with (run_dir / manifest.SEARCHABLE).open("a") as out:
            out.writelines(sighting.to_json() + "\n" for sighting in new.values())
    sightings = known | new
    tts = report.time_to_searchable_s(records, sightings)
    lines.append(
        report.spread_line(
            "time to searchable (response received -> first search that finds the ID)",
            report.Spread.of(list(tts.values())),
        )
    )
    if len(tts) < len(ids):
        lines.append(
            f"  {len(ids) - len(tts)} IDs not timed: already searchable at the first look"
            " (time to searchable is measured by the polls `make load` makes while sending)"
        )
    if tts:
        chart.render(run_dir, records, tts)
    where = ", ".join((*expectations.TEXT_FIELDS, "url.query"))
    if leaks:
        lines.append(
            f"LEAKED: the synthetic password is in {sum(leaks.values())} documents ({where}) of"
            f" {len(leaks)} tracking IDs: {', '.join(sorted(leaks)[:10])}"
        )
    else:
        lines.append(f"secrets: the synthetic password is in none of the documents ({where})")
    if no_response:
        lines.append(
            f"not verifiable: {len(no_response)} requests got no response, so no tracking ID"
        )
    lines.append(
        f"dead-letter index {deadletter.INDEX}: {dead_total} lines since the run began"
        + (f", of {len(dead_lettered)} of this run's tracking IDs" if dead_total else "")
    )
    for item in dead_lettered[:SHOW_MISSING]:
        lines += describe_dead(item, dead[item.tracking_id])
    for item in missing[:SHOW_MISSING]:
        lines += describe_missing(item, outcome.found)
    if len(missing) > SHOW_MISSING:
        lines.append(f"... and {len(missing) - SHOW_MISSING} more missing")
    lines += drawn
    complete = len(ids) - len(missing) - len(dead_lettered)
    verdict = f"verified {complete}/{len(ids)} tracking IDs in {run_dir.name}" + (
        f": {len(missing)} MISSING after {outcome.waited_s:.0f} s"
        if missing
        else f" ({documents} documents)"
    )
    if dead_lettered:
        verdict += f"; {len(dead_lettered)} DEAD-LETTERED (in {deadletter.INDEX}, not lost)"
    if leaks:
        verdict += f"; the synthetic password LEAKED into {sum(leaks.values())} documents"
    lines.append(verdict)
    return lines
