"""`make trace ID=...`: one request's timeline from Elasticsearch, across services.

Every document with that tracking_id, in causal order where the lines say enough, else oldest
first (``@timestamp``, then ``log.offset``: the order within one millisecond of one service's
file). Two services write two files with two clocks, truncated to the millisecond, and a
callee's access line is written only after its response went out: so by ``@timestamp`` the
caller's ``dependency_call`` line can come before the lines of the very call it timed. Each
line carries ``span.id`` (W3C trace context: one span per request per service, and the
dependency_call line the child span it sent), so the callee's lines are matched to the call
that waited for them (same ``url.path``, within the call's ``event.duration``) and printed
before it. Each row: time, offset from the first line, level, service, duration, message;
an error's type, message and stack trace under its line. The last line is the Kibana Discover
link when a Kibana answers (compose), else a note that there is none.

Lines Elasticsearch rejected are in the dead-letter index (loadgen.deadletter): they are
listed after the timeline, each with Elasticsearch's reason, as dead-lettered, not missing.

It also draws the request (loadgen.timeline) into ``.run/timelines/<tracking ID>.html``
(``TIMELINES_DIR`` moves it; ``.run/`` is not committed) and prints that file's URL.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch
from loadgen import deadletter, kibana
from loadgen.elastic import connect
from loadgen.report import table
from setup.project import INDEX_PATTERN, REPO, PollTimeout, poll_until

LIMIT = 1000
MESSAGE_WIDTH = 90
# How far past the dependency_call line a callee's line may be stamped and still belong inside
# the call: both stamps are truncated to the millisecond, and the callee writes its access
# line after sending the response the caller may already have read.
CALL_SLACK_MS = 5
ACCESS = "trackstack.access"


def field(doc: Mapping[str, Any], name: str) -> Any:
    """``doc["a.b"]`` whether the document keeps the dotted key or nested objects."""
    if name in doc:
        return doc[name]
    parts = name.split(".")
    for cut in range(1, len(parts)):
        value = doc.get(".".join(parts[:cut]))
        if isinstance(value, Mapping):
            return field(value, ".".join(parts[cut:]))
    return None


def fetch(es: Elasticsearch, tracking_id: str) -> tuple[list[dict[str, Any]], int]:
    result = es.search(
        index=INDEX_PATTERN,
        query={"term": {"tracking_id": tracking_id}},
        sort=[{"@timestamp": "asc"}, {"log.offset": {"order": "asc", "unmapped_type": "long"}}],
        size=LIMIT,
        track_total_hits=True,
    )
    hits = result["hits"]
    return [hit["_source"] for hit in hits["hits"]], int(hits["total"]["value"])


def _time(doc: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(field(doc, "@timestamp")))


def _ms(doc: Mapping[str, Any]) -> float:
    return _time(doc).timestamp() * 1000


def callees(docs: Sequence[Mapping[str, Any]]) -> dict[int, list[int]]:
    """{index of a ``dependency_call`` line: indices of every line of the callee's span}.

    A span is the lines of one ``(service.name, span.id)``. The callee span of a call is an
    unclaimed span of another service whose access line has the call's ``url.path`` and which
    began within the call (``@timestamp - event.duration`` to ``@timestamp``, give or take
    CALL_SLACK_MS). A span begins at its first line or, earlier, at its access line's
    ``@timestamp - event.duration``: a callee whose only line is its access line, stamped
    after the caller already read the response, still began inside the call. ``docs`` oldest
    first; lines without ``span.id`` belong to no span. The callee's span is a child of the
    call's span (W3C trace context), but its lines do not name their parent, hence the
    matching.
    """
    spans: dict[tuple[str, str], list[int]] = {}
    for i, doc in enumerate(docs):
        if field(doc, "span.id"):
            key = (str(field(doc, "service.name")), str(field(doc, "span.id")))
            spans.setdefault(key, []).append(i)
    wraps: dict[int, list[int]] = {}
    claimed: set[tuple[str, str]] = set()
    for i, call in enumerate(docs):
        if field(call, "event.action") != "dependency_call":
            continue
        end = _ms(call)
        start = end - _duration_ms(call)
        best: tuple[float, tuple[str, str]] | None = None
        for key, members in spans.items():
            if key[0] == field(call, "service.name") or key in claimed:
                continue
            access = [
                m
                for m in members
                if field(docs[m], "event.dataset") == ACCESS
                and field(docs[m], "url.path") == field(call, "url.path")
            ]
            if not access:
                continue
            began = min(_ms(docs[members[0]]), _ms(docs[access[0]]) - _duration_ms(docs[access[0]]))
            if start - CALL_SLACK_MS <= began <= end + CALL_SLACK_MS:
                distance = abs(_ms(docs[access[0]]) - end)
                if best is None or distance < best[0]:
                    best = (distance, key)
        if best is not None:
            wraps[i] = spans[best[1]]
            claimed.add(best[1])
    return wraps


def causal_order(docs: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], int]:
    """``docs`` (oldest first) with each dependency call's callee lines (``callees``) that
    were stamped up to the call's end (+ CALL_SLACK_MS) moved before its ``dependency_call``
    line, and how many lines that moved ahead of it.

    Later callee lines (a callee that answered after the caller gave up) stay at their time.
    Lines without ``span.id`` keep their timestamp order.
    """
    wraps = {
        i: [m for m in members if _ms(docs[m]) <= _ms(docs[i]) + CALL_SLACK_MS]
        for i, members in callees(docs).items()
    }
    claimed = {m for inside in wraps.values() for m in inside}
    moved = sum(m > i for i, inside in wraps.items() for m in inside)
    order: list[Mapping[str, Any]] = []
    placed: set[int] = set()

    def emit(i: int) -> None:
        for inner in wraps.get(i, []):
            if inner not in placed:
                emit(inner)
        placed.add(i)
        order.append(docs[i])

    for i in range(len(docs)):
        if i not in placed and i not in claimed:
            emit(i)
    return order, moved


def _duration_ms(doc: Mapping[str, Any]) -> float:
    """``event.duration`` in ms; 0 when a line has none (or not a number)."""
    nanoseconds = field(doc, "event.duration")
    ok = isinstance(nanoseconds, int | float) and not isinstance(nanoseconds, bool)
    return float(nanoseconds) / 1e6 if ok else 0.0


def _duration(doc: Mapping[str, Any]) -> str:
    nanoseconds = field(doc, "event.duration")
    return f"{nanoseconds / 1e6:.1f} ms" if isinstance(nanoseconds, int | float) else ""


def _clip(text: str, width: int = MESSAGE_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render(tracking_id: str, docs: Sequence[Mapping[str, Any]], total: int, link: str) -> str:
    """The timeline: a header, how the rows are ordered, the rows, ``link`` (whole lines)."""
    first = min(_time(d) for d in docs)
    last = max(_time(d) for d in docs)
    services = list(dict.fromkeys(str(field(d, "service.name")) for d in docs))
    docs, moved = causal_order(docs)
    lines = [
        f"tracking_id {tracking_id}: {total} documents from {len(services)} "
        f"service{'s' if len(services) != 1 else ''} ({', '.join(services)}), "
        f"from {first.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}Z over "
        f"{(last - first).total_seconds() * 1000:.0f} ms",
        "order: by cause where span.id tells (a dependency call's line after the callee's lines"
        " it waited for), else by @timestamp"
        + (
            f"; {moved} line{'s' if moved != 1 else ''} placed before a dependency call"
            " stamped at or after it (two services' clocks, milliseconds)"
            if moved
            else ""
        ),
        "",
    ]
    rows: list[tuple[str, ...]] = [("time (UTC)", "+ms", "level", "service", "duration", "message")]
    errors: dict[int, list[str]] = {}
    for doc in docs:
        at = _time(doc)
        rows.append(
            (
                at.strftime("%H:%M:%S.%f")[:-3],
                f"{(at - first).total_seconds() * 1000:.0f}",
                str(field(doc, "log.level") or ""),
                str(field(doc, "service.name") or ""),
                _duration(doc),
                _clip(str(field(doc, "message") or "")),
            )
        )
        error_type = field(doc, "error.type")
        if error_type:
            detail = [f"    error {error_type}: {field(doc, 'error.message') or ''}"]
            stack = field(doc, "error.stack_trace")
            if stack:
                detail += [f"      {line}" for line in str(stack).rstrip().splitlines()]
            errors[len(rows) - 1] = detail
    for number, line in enumerate(table(rows, right=(1, 4))):
        lines.append(line)
        lines += errors.get(number, [])
    if total > len(docs):
        lines.append(f"(first {len(docs)} of {total} documents)")
    lines += ["", link]
    return "\n".join(lines)


def render_dead_letters(tracking_id: str, dead: Sequence[Mapping[str, Any]]) -> str:
    """The dead-lettered lines of one ID: when, why Elasticsearch refused each, the line."""
    lines = [
        f"DEAD-LETTERED: {len(dead)} line{'s' if len(dead) != 1 else ''} of tracking_id"
        f" {tracking_id} that Elasticsearch refused, kept in {deadletter.INDEX}"
        f' (Kibana: data view {deadletter.INDEX}, message:"tracking_id {tracking_id}")'
    ]
    for doc in sorted(dead, key=lambda d: str(d.get("@timestamp", ""))):
        event = deadletter.original(doc) or {}
        lines.append(f"  {doc.get('@timestamp', '?')}  _id {doc['_id']}: {deadletter.reason(doc)}")
        lines.append(f"    {_clip(str(field(event, 'message') or doc.get('message', '')))}")
    return "\n".join(lines)


def timelines_dir() -> Path:
    """Where `make trace` writes timelines: ``TIMELINES_DIR``, else ``.run/timelines/``."""
    return Path(os.environ.get("TIMELINES_DIR", REPO / ".run" / "timelines"))


def write_timeline(
    folder: Path,
    tracking_id: str,
    docs: Sequence[Mapping[str, Any]],
    dead: Sequence[Mapping[str, Any]],
    total: int | None = None,
) -> Path:
    """The request's timeline page (loadgen.timeline) written to ``folder``; its path."""
    # Imported here: loadgen.timeline builds on this module's matching.
    from loadgen import timeline

    page = timeline.render(tracking_id, docs, dead, now_ms=time.time() * 1000, total=total)
    return timeline.write(folder, tracking_id, page)


def run(tracking_id: str, wait_s: float) -> int:
    es = connect()
    docs: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    total = 0

    def found() -> bool:
        nonlocal docs, total, dead
        docs, total = fetch(es, tracking_id)
        dead = deadletter.find(es, [tracking_id]).get(tracking_id, [])
        return bool(docs or dead)

    if not found() and wait_s > 0:
        print(
            f"trace: no line of {tracking_id} is searchable yet; waiting up to {wait_s:g} s for"
            " Filebeat to ship it...",
            file=sys.stderr,
            flush=True,
        )
        # Elasticsearch's own errors are not retried: the caller explains them.
        with contextlib.suppress(PollTimeout):
            poll_until(found, wait_s, f"{tracking_id}'s lines", every_s=0.5, retry_on=())
    link = kibana.link_line(tracking_id)
    if not docs and not dead:
        print(
            f"trace: no documents with tracking_id {tracking_id} in {INDEX_PATTERN}"
            f" or {deadletter.INDEX} (waited {wait_s:g} s; a wrong ID, or is Filebeat running?"
            f" make native-status)\n{link}"
        )
        return 1
    path = write_timeline(timelines_dir(), tracking_id, docs, dead, total)
    drawn = f"timeline: {path.resolve().as_uri()}  (one lane per service: open it in a browser)"
    if docs:
        print(render(tracking_id, docs, total, f"{drawn}\n{link}"))
    else:
        print(f"trace: no indexed documents with tracking_id {tracking_id} in {INDEX_PATTERN}")
    if dead:
        print(render_dead_letters(tracking_id, dead))
        if not docs:
            print(drawn)
    return 0
