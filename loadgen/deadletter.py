"""Finding lines in the dead-letter index ``trackstack-deadletter`` by tracking ID.

Filebeat's ``non_indexable_policy: dead_letter_index`` (filebeat/filebeat.yml) writes a
document Elasticsearch rejected there, under the same ``_id`` (its ``event.id``), as
(libbeat outputs/elasticsearch ``setDeadLetter``)::

    {"@timestamp": <the event's>, "message": "<the whole event, as a JSON string>",
     "error.type": <HTTP status of the rejection>, "error.message": "<Elasticsearch's reason>"}

So a tracking ID is not a field there, only a substring of ``message``. The template
(elasticsearch/templates/trackstack-deadletter.json) maps ``message`` as ``text`` with the
standard analyzer, which splits ``"tracking_id":"ab-12"`` into ``tracking_id ab 12``; a
``match_phrase`` for ``tracking_id ab-12`` is analysed the same way, so it finds every
document of that ID. It may also find a few others (``ab-12-x``, other letter case), so
each hit is confirmed by decoding ``message`` and comparing its ``tracking_id`` exactly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from elasticsearch import Elasticsearch
from loadgen.watch import batches

INDEX = "trackstack-deadletter"
BATCH = 200  # phrase queries per search (each is a few clauses; the limit is thousands)
PAGE = 1000  # documents per search; more than this for one batch is read in further pages


def original(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The rejected event a dead-letter document carries, or None if ``message`` is not one
    JSON object."""
    try:
        event = json.loads(doc.get("message", ""))
    except (TypeError, ValueError):
        return None
    return event if isinstance(event, dict) else None


def tracking_id(doc: Mapping[str, Any]) -> str | None:
    """The tracking_id of the event inside a dead-letter document (None if it has none)."""
    event = original(doc)
    value = event.get("tracking_id") if event else None
    return value if isinstance(value, str) else None


def query(ids: Sequence[str], since_ms: float | None = None) -> dict[str, Any]:
    """Dead-letter documents that may belong to ``ids`` (confirm with ``tracking_id``)."""
    phrases = [{"match_phrase": {"message": f"tracking_id {i}"}} for i in ids]
    filters: list[dict[str, Any]] = []
    if since_ms is not None:
        filters.append({"range": {"@timestamp": {"gte": int(since_ms), "format": "epoch_millis"}}})
    return {"bool": {"should": phrases, "minimum_should_match": 1, "filter": filters}}


def find(
    es: Elasticsearch, ids: Sequence[str], since_ms: float | None = None
) -> dict[str, list[dict[str, Any]]]:
    """{tracking ID: its dead-letter documents (``_source`` plus ``_id``)}, only IDs that have
    any. A missing dead-letter index (nothing was ever rejected) finds nothing."""
    wanted = set(ids)
    found: dict[str, list[dict[str, Any]]] = {}
    for batch in batches(sorted(wanted), BATCH):
        after: list[Any] | None = None
        while True:
            result = es.search(
                index=INDEX,
                query=query(batch, since_ms),
                size=PAGE,
                sort=[{"_doc": "asc"}],
                search_after=after,
                ignore_unavailable=True,
            )
            hits = result["hits"]["hits"]
            for hit in hits:
                doc = hit["_source"] | {"_id": hit["_id"]}
                owner = tracking_id(doc)
                if owner in wanted:
                    found.setdefault(owner, []).append(doc)
            if len(hits) < PAGE:
                break
            after = hits[-1]["sort"]
    return found


def count(es: Elasticsearch, since_ms: float | None = None) -> int:
    """Dead-letter documents (since ``since_ms``, epoch ms, by the event's @timestamp)."""
    body: dict[str, Any] = {"match_all": {}}
    if since_ms is not None:
        body = {"range": {"@timestamp": {"gte": int(since_ms), "format": "epoch_millis"}}}
    return int(es.count(index=INDEX, query=body, ignore_unavailable=True)["count"])


def reason(doc: Mapping[str, Any]) -> str:
    """Why Elasticsearch rejected the line: "<status> <error type>: <reason>" from the
    dead-letter document's error.type (status) and error.message (the bulk item's error)."""
    status = doc.get("error.type", doc.get("error", {}).get("type", ""))
    text = doc.get("error.message", doc.get("error", {}).get("message", ""))
    try:
        detail = json.loads(text)
    except (TypeError, ValueError):
        detail = None
    if isinstance(detail, dict) and detail.get("reason"):
        text = f"{detail.get('type', 'error')}: {detail['reason']}"
    return f"{status} {text}".strip()
