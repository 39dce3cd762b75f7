"""The soak's report: one row per kind of fault (IDs, lines, documents, lost, duplicated,
undecodable, recovery), the timeline, time to searchable and the verdict (soak.txt)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from loadgen import deadletter, manifest, report
from loadgen.manifest import Record
from soak.faults import Fault, Options, Recovery, Soak, Watch, ids_in, recovery
from soak.ledger import SHOW_LOST, Ledger, Tally

# Lines written this long before Elasticsearch or Filebeat went down may not have been shipped
# yet: timings outside the faults leave them out too.
OUTAGE_LEAD_MS = 5000.0


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def outages(
    faults: Sequence[Fault], sent: Mapping[str, float], seen: Mapping[str, float]
) -> list[tuple[float, float]]:
    """When Elasticsearch or Filebeat was down or still catching up: from OUTAGE_LEAD_MS
    before the fault until its backlog was drained (epoch ms). Other timings leave these out."""
    spans = []
    for fault in faults:
        if fault.kind in ("es-outage", "filebeat-kill"):
            drained = recovery(fault, sent, seen).drained_s
            spans.append((fault.start_ms - OUTAGE_LEAD_MS, fault.end_ms + 1000 * (drained or 0.0)))
    return spans


def _inside(ms: float, spans: Sequence[tuple[float, float]]) -> bool:
    return any(start <= ms <= end for start, end in spans)


def _recovery_text(kind: str, got: Sequence[Recovery], not_timed: int = 0) -> str:
    if kind in ("es-outage", "filebeat-kill"):
        back = "Elasticsearch answered" if kind == "es-outage" else "the new process started"
        one = got[0]
        return (
            f"first new line searchable {_seconds(one.resumed_s)} after {back}; backlog of"
            f" {one.backlog} IDs drained after {_seconds(one.drained_s)}"
        )
    if kind == "rotation":
        if not got:
            return f"not timed: all {not_timed} during the ES/Filebeat faults"
        resumed = [r.resumed_s for r in got if r.resumed_s is not None]
        spread = report.Spread.of(resumed)
        text = (
            "no request followed"
            if spread is None
            else f"next request searchable after p50 {spread.p50:.1f} s, max {spread.max:.1f} s"
        )
        if len(got) > len(resumed):
            text += f"; {len(got) - len(resumed)} rotations: never"
        if not_timed:
            text += f" ({not_timed} during the ES/Filebeat faults, not timed)"
        return text
    drained = [r.drained_s for r in got]
    worst = None if None in drained else max(d for d in drained if d is not None)
    return f"all burst IDs searchable within {_seconds(worst)} of the last answer"


TITLES = {
    "es-outage": "Elasticsearch stopped",
    "filebeat-kill": "Filebeat SIGKILL",
    "rotation": "log rotations",
    "burst": "500 bursts",
}


def fault_rows(
    faults: Sequence[Fault],
    sent: Mapping[str, float],
    seen: Mapping[str, float],
    ledger: Ledger,
    t0_ms: float,
) -> list[tuple[str, ...]]:
    """One row per kind of fault (rotations and bursts summed up), then the whole run."""
    busy = outages(faults, sent, seen)
    rows: list[tuple[str, ...]] = []
    for kind in dict.fromkeys(f.kind for f in faults):
        same = [f for f in faults if f.kind == kind]
        ids = [i for f in same for i in ids_in(f, sent)]
        timed = [f for f in same if kind != "rotation" or not _inside(f.start_ms, busy)]
        title = TITLES.get(kind, kind) + (f" x{len(same)}" if len(same) > 1 else "")
        if kind == "es-outage":
            # "node I stopped in ...": one node of a cluster (--es-node), the rest served
            note = same[0].note
            node = " ".join(note.split()[:2]) if note.startswith("node ") else ""
            title = f"Elasticsearch {node + ' ' if node else ''}down"
            title += f" {(same[0].end_ms - same[0].start_ms) / 1000:.0f} s"
        rows.append(
            _row(
                title,
                f"{(same[0].start_ms - t0_ms) / 1000:.1f}-{(same[-1].end_ms - t0_ms) / 1000:.1f}",
                Tally.of(ledger.balance, ids),
                ledger.undecodable.get(kind, 0),
                _recovery_text(
                    kind, [recovery(f, sent, seen) for f in timed], len(same) - len(timed)
                ),
            )
        )
    end = max(sent.values(), default=t0_ms) - t0_ms
    undecodable = ledger.undecodable.get("run", 0)
    rows.append(_row("whole run", f"0.0-{end / 1000:.1f}", ledger.whole, undecodable, ""))
    return rows


def timeline(faults: Sequence[Fault], t0_ms: float) -> list[str]:
    """What happened when, in seconds from the first request (rotations on one line)."""
    lines = ["timeline (s from the first request):"]
    for fault in sorted(faults, key=lambda f: f.start_ms):
        if fault.kind != "rotation":
            lines.append(
                f"  {(fault.start_ms - t0_ms) / 1000:6.1f}  {fault.kind}, over after"
                f" {(fault.end_ms - fault.start_ms) / 1000:.1f} s: {fault.note}"
            )
    rotations = [f"{(f.start_ms - t0_ms) / 1000:.1f}" for f in faults if f.kind == "rotation"]
    if rotations:
        lines.append(f"  rotations at {' '.join(rotations)}")
    return lines


def _row(title: str, when: str, tally: Tally, undecodable: int, recovered: str) -> tuple[str, ...]:
    return (
        title,
        when,
        str(tally.ids),
        str(tally.lines),
        str(tally.docs),
        str(tally.lost_ids),
        str(tally.duplicated),
        str(undecodable),
        recovered,
    )


HEADER = ("fault", "window s", "IDs", "lines", "docs", "lost", "dup", "undecodable", "recovery")


def _load_seconds(records: Sequence[Record]) -> float:
    """From the first request sent to the last: the load lasts as long as the faults need."""
    sent = [r.sent_ms for r in records]
    return max((max(sent) - min(sent)) / 1000, 1.0) if sent else 1.0


def summary(
    options: Options, folder: Path, load_dir: Path, soak: Soak, watch: Watch, ledger: Ledger
) -> list[str]:
    records = watch.all_records()
    load_records = [r for r in records if r.entry != "burst"]
    failures = [r for r in records if not report.is_ok(r)]
    sightings = watch.sightings()
    seen = {i: s.seen_ms for i, s in sightings.items()}
    tts = report.time_to_searchable_s(records, sightings)
    busy = outages(soak.faults, watch.sent, seen)
    calm = [s for i, s in tts.items() if not _inside(watch.sent[i], busy)]
    lines = ledger.lines
    whole = ledger.whole
    cut = sum(lines.cut.values())
    out = [
        f"soak {manifest.shown(folder)}: {len(load_records)} load requests"
        f" ({len(load_records) / _load_seconds(load_records):.1f} req/s,"
        f" target {options.rate:g}) +"
        f" {len(soak.bursts)} burst requests; load folder {load_dir.name}/",
        f"lines: {lines.total} written in {lines.files} files ({lines.files_rotated} rotated),"
        f" {whole.lines} of them with this run's {whole.ids} tracking IDs; {cut} cut to the"
        f" line bound; {len(lines.not_json)} not JSON; {lines.too_large} oversized-record"
        " stand-ins",
        "",
        *report.table(
            [HEADER, *fault_rows(soak.faults, watch.sent, seen, ledger, soak.t0_ms)],
            right=range(2, 8),
        ),
        "",
        *timeline(soak.faults, soak.t0_ms),
        report.spread_line("time to searchable, whole run", report.Spread.of(list(tts.values()))),
        report.spread_line(
            "time to searchable, outside the ES and Filebeat faults and their backlog",
            report.Spread.of(calm),
        ),
    ]
    events = ledger.filebeat
    out.append(
        f"Filebeat (its 30 s metrics): {events['duplicates']} re-sent lines refused as already"
        f" indexed (409: the event.id dedup at work), {events['dropped']} dropped,"
        f" {events['failed']} failed sends retried"
    )
    if watch.failed_searches:
        out.append(f"searches that failed while a fault was on: {watch.failed_searches}")
    if failures:
        out.append(
            f"WARNING: {len(failures)} requests did not get the answer they expect (e.g."
            f" {failures[0].entry}: {failures[0].error}); see load.log"
        )
    for problem in soak.problems:
        out.append(f"FAULT INJECTION PROBLEM: {problem}")
    if lines.not_json:
        out += ["NOT JSON in the log files:", *(f"  {w}" for w in lines.not_json[:SHOW_LOST])]
    if lines.repeated:
        out.append(f"EVENT.ID REPEATED: {lines.repeated} lines reuse an earlier line's event.id")
    out.append(
        f"dead-letter index {deadletter.INDEX}: {ledger.dead_letters} lines since the run began"
        f" ({whole.dead_lines} of them of {whole.dead_ids} of this run's tracking IDs)"
    )
    if ledger.lost_detail:
        out += ["LOST, DUPLICATED OR DEAD-LETTERED:", *(f"  {d}" for d in ledger.lost_detail)]
    verdict = (
        f"{whole.lost_ids} lost IDs ({whole.lost_lines} lines), {whole.duplicated} duplicated"
        f" documents, {ledger.dead_letters} dead-lettered,"
        f" {ledger.undecodable.get('run', 0)} undecodable; {whole.ids} tracking IDs,"
        f" {whole.lines} lines, {whole.docs} documents"
    )
    ok = ledger.ok and not soak.problems
    out.append(f"soak {'PASSED' if ok else 'FAILED'}: {verdict}")
    return out
