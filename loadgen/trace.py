"""`make trace ID=...`: one request's timeline from Elasticsearch, across services.

Every document with that tracking_id, oldest first (``@timestamp``, then ``log.offset``:
the order within one millisecond of one service's file; two services' lines in the same
millisecond may show either way round), as time, offset from the first
line, level, service, message and duration; an error's type, message and stack trace are
printed under its line. The last line is the Kibana Discover link for the same ID.

Lines Elasticsearch rejected are in the dead-letter index (loadgen.deadletter): they are
listed after the timeline, each with Elasticsearch's reason, as dead-lettered, not missing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch
from loadgen import deadletter, kibana
from loadgen.elastic import INDEX_PATTERN, connect
from loadgen.report import table
from loadgen.verify import kibana_url

LIMIT = 1000
MESSAGE_WIDTH = 90


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


def _duration(doc: Mapping[str, Any]) -> str:
    nanoseconds = field(doc, "event.duration")
    return f"{nanoseconds / 1e6:.1f} ms" if isinstance(nanoseconds, int | float) else ""


def _clip(text: str, width: int = MESSAGE_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render(tracking_id: str, docs: Sequence[Mapping[str, Any]], total: int, link: str) -> str:
    first = _time(docs[0])
    last = _time(docs[-1])
    services = list(dict.fromkeys(str(field(d, "service.name")) for d in docs))
    lines = [
        f"tracking_id {tracking_id}: {total} documents from {len(services)} "
        f"service{'s' if len(services) != 1 else ''} ({', '.join(services)}), "
        f"from {first.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}Z over "
        f"{(last - first).total_seconds() * 1000:.0f} ms",
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
    lines += ["", f"Kibana: {link}"]
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


def run(tracking_id: str, wait_s: float) -> int:
    es = connect()
    deadline = time.monotonic() + wait_s
    docs, total = fetch(es, tracking_id)
    dead = deadletter.find(es, [tracking_id]).get(tracking_id, [])
    while not docs and not dead and time.monotonic() < deadline:
        time.sleep(0.5)
        docs, total = fetch(es, tracking_id)
        dead = deadletter.find(es, [tracking_id]).get(tracking_id, [])
    link = kibana.discover_url(tracking_id, kibana_url())
    if not docs and not dead:
        print(
            f"trace: no documents with tracking_id {tracking_id} in {INDEX_PATTERN}"
            f" or {deadletter.INDEX} (waited {wait_s:g} s)\nKibana: {link}"
        )
        return 1
    if docs:
        print(render(tracking_id, docs, total, link))
    else:
        print(f"trace: no indexed documents with tracking_id {tracking_id} in {INDEX_PATTERN}")
    if dead:
        print(render_dead_letters(tracking_id, dead))
    return 0
