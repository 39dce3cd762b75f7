"""Lines that do not fit the template, through the real pipeline (log file -> Filebeat ->
Elasticsearch): each one's tracking ID is found, in trackstack-logs-* or else in the
dead-letter index trackstack-deadletter, and the table says which.

The lines are written raw (not by the service's formatter, which avoids some of these
shapes itself) into a file the native Filebeat reads (.run/logs/*.ndjson), in table order:
a key that is a value in an earlier line and an object in a later one is in the table as
two rows. Where each row lands was found by running it; the reasons are in the template's
_meta and in README "When a line does not fit the mapping".
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from loadgen import deadletter, manifest
from loadgen.trace import field
from setup.project import INDEX_PATTERN, REPO, poll_until
from tests.helpers import SERVICE, Stack, loadgen

LOGS = REPO / ".run" / "logs"
RUN = uuid.uuid4().hex[:8]
RECORDS_PREFIX = "e2e-records-"  # test_pipeline's decoding check leaves these files out

# Where a row's line ends up.
INDEXED = "indexed"  # a document in trackstack-logs-* with its tracking_id
DEAD = "dead-letter"  # a document in trackstack-deadletter carrying the line
TEXT_ONLY = "text-only"  # indexed, but the line is only the text of `message` (not JSON)
# Indexed without the line's fields: Filebeat's expand_keys cannot expand a line that has a
# key as a value and as a dotted prefix at once, and ships only its error. The service's
# formatter never writes such a line (it renames the colliding key); other writers can.
FIELDS_DROPPED = "fields-dropped"


@dataclass(frozen=True)
class Row:
    name: str
    fields: dict[str, Any] | None  # the line's own keys; None: ``raw`` is the line
    lands: str
    raw: str | None = None

    @property
    def tracking_id(self) -> str:
        return f"rec-{RUN}-{self.name}"

    @property
    def event_id(self) -> str:
        return f"{self.tracking_id}-e"

    def line(self) -> str:
        if self.raw is not None:
            return self.raw.replace("{tid}", self.tracking_id)
        base = {
            "@timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "log.level": "info",
            "message": f"record {self.name}",
            "service.name": "e2e-records",
            "event.dataset": "trackstack.app",
            "event.id": self.event_id,
            "tracking_id": self.tracking_id,
        }
        return json.dumps(base | self.fields, ensure_ascii=False)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for level in range(depth):
        value = {f"n{level}": value}
    return value


ROWS = [
    # A key that is a value in one line and an object in another (subobjects: false).
    Row("error-as-value", {"error": "upstream timeout"}, INDEXED),
    Row("error-as-object", {"error": {"message": "upstream timeout", "code": 504}}, INDEXED),
    Row("user-as-value", {"user": "someone"}, INDEXED),
    Row("user-dotted", {"user.name": "ada", "user.id": "u-1"}, INDEXED),
    Row("http-as-value", {"http": "1.1"}, INDEXED),
    Row("http-request-as-value", {"http.request": "GET /"}, INDEXED),
    Row("labels-object", {"labels": {"x": {"y": 1}}}, INDEXED),
    Row("labels-value", {"labels.x": "plain"}, INDEXED),
    Row("message-as-object", {"message": {"text": "hello", "lang": "en"}}, INDEXED),
    # Wrong types for mapped fields (ignore_malformed; objects become leaves of their own).
    Row("duration-string", {"event.duration": "12ms"}, INDEXED),
    Row("status-string", {"http.response.status_code": "OK"}, INDEXED),
    Row("status-numeric-string", {"http.response.status_code": "404"}, INDEXED),
    Row("duration-object", {"event.duration": {"ns": 5}}, INDEXED),
    Row("keyword-object", {"url.path": {"template": "/api/x/{id}"}}, INDEXED),
    Row("keyword-array-of-objects", {"error.type": [{"code": 1}, {"code": 2}]}, INDEXED),
    Row("number-beyond-long", {"http.response.body.bytes": 10**30}, INDEXED),
    Row("boolean-for-long", {"event.duration": True}, INDEXED),
    Row("boolean-for-keyword", {"event.action": False}, INDEXED),
    Row("ip-malformed", {"client.ip": "not-an-ip"}, INDEXED),
    Row("keyword-too-long", {"event.action": "x" * 5000}, INDEXED),
    Row("keyword-beyond-lucene-term", {"log.logger": "y" * 40_000}, INDEXED),
    Row("dynamic-keyword-beyond-lucene-term", {"note": "z" * 40_000}, INDEXED),
    Row("headers-as-string", {"http.request.headers": "raw"}, INDEXED),
    Row("body-shape-list", {"http.request.body.shape": ["str", {"a": "int"}]}, INDEXED),
    # Shapes and names.
    Row("deep-nesting", {"deep": nested(60)}, INDEXED),
    Row("many-fields", {f"extra_{n}": n for n in range(200)}, INDEXED),
    Row("trailing-dot", {"trailing.": 1}, INDEXED),  # field "trailing."
    Row("double-dot", {"a..b": 1}, INDEXED),  # field "a..b"
    Row("non-ascii-keys", {"ключ": "значение", "名前": "値", "emoji 🙂": 1}, INDEXED),
    Row("null-values", {"user.id": None, "error": None, "labels": None}, INDEXED),
    Row("bad-timestamp", {"@timestamp": "yesterday"}, INDEXED),
    Row("numeric-timestamp", {"@timestamp": 1_700_000_000}, INDEXED),
    Row("source-as-key", {"_source": {"a": 1}}, INDEXED),
    Row("type-underscore", {"type": "_doc"}, INDEXED),
    Row("not-json", None, TEXT_ONLY, raw="Traceback (most recent call last): {tid} failed"),
    # What Elasticsearch refuses whatever the mapping: the dead-letter index keeps them.
    Row("empty-key", {"": 1}, DEAD),
    Row("leading-dot", {".hidden": 1}, DEAD),
    Row("id-as-key", {"_id": "mine"}, DEAD),
    Row("index-as-key", {"_index": "elsewhere"}, DEAD),
    Row("alias-written", {"http.request.id": "req-1"}, DEAD),
    # A value and a dotted key below it in ONE line: Filebeat's expand_keys fails.
    Row("error-and-error-message", {"error": "x", "error.message": "y"}, FIELDS_DROPPED),
    Row("user-and-user-name", {"user": "x", "user.name": "y"}, FIELDS_DROPPED),
]
assert len({row.name for row in ROWS}) == len(ROWS)


@dataclass
class Landed:
    """Where every row's line was found: documents in the main indices and dead letters."""

    indexed: dict[str, list[dict[str, Any]]]
    dead: dict[str, list[dict[str, Any]]]
    by_offset: dict[str, list[dict[str, Any]]]  # rows found only by file and offset
    path: Path
    offsets: dict[str, int]
    written_ms: float  # just before the first row was written


def _search(stack: Stack, index: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    hits = stack.es.search(index=index, query=query, size=100, ignore_unavailable=True)
    return [
        hit["_source"] | {"_id": hit["_id"], "_index": hit["_index"]}
        for hit in hits["hits"]["hits"]
    ]


def _delete(stack: Stack, landed: Landed) -> None:
    """Remove the documents the rows made: the soak and verify count undecodable and
    dead-lettered documents in a time window that may include them."""
    docs = [d for found in (landed.indexed, landed.by_offset) for ds in found.values() for d in ds]
    docs += [d | {"_index": deadletter.INDEX} for ds in landed.dead.values() for d in ds]
    for doc in docs:
        stack.es.delete(index=doc["_index"], id=doc["_id"], refresh=True)


def _todays_index_keeps_what_it_can(stack: Stack) -> None:
    """Precondition: the index the lines go to was made by the current template."""
    index = datetime.now(UTC).strftime("trackstack-logs-%Y.%m.%d")
    if stack.es.indices.exists(index=index):
        mapping = stack.es.indices.get_mapping(index=index)[index]["mappings"]
        assert mapping.get("subobjects") is False, (
            f"{index} predates the template (subobjects is not false); `native/stack.sh reset`"
            " or delete the index"
        )


@pytest.fixture(scope="module")
def landed(stack: Stack) -> Iterator[Landed]:
    _todays_index_keeps_what_it_can(stack)
    path = LOGS / f"{RECORDS_PREFIX}{RUN}.ndjson"
    offsets: dict[str, int] = {}
    written_ms = time.time() * 1000 - 1000
    with path.open("wb") as out:
        for row in ROWS:
            offsets[row.name] = out.tell()
            out.write(row.line().encode() + b"\n")
    result = Landed({}, {}, {}, path, offsets, written_ms)

    def look(row: Row) -> bool:
        if row.lands == TEXT_ONLY:
            query = {"match_phrase": {"message": row.tracking_id}}
            result.indexed[row.name] = _search(stack, INDEX_PATTERN, query)
        elif row.lands == FIELDS_DROPPED:
            query = {
                "bool": {
                    "filter": [
                        {"term": {"log.file.path": str(path)}},
                        {"term": {"log.offset": offsets[row.name]}},
                    ]
                }
            }
            result.by_offset[row.name] = _search(stack, INDEX_PATTERN, query)
        else:
            query = {"term": {"tracking_id": row.tracking_id}}
            result.indexed[row.name] = _search(stack, INDEX_PATTERN, query)
        result.dead |= deadletter.find(stack.es, [row.tracking_id])
        return bool(
            result.indexed.get(row.name)
            or result.by_offset.get(row.name)
            or row.tracking_id in result.dead
        )

    pending = list(ROWS)

    def all_landed() -> bool:
        pending[:] = [row for row in pending if not look(row)]
        return not pending

    poll_until(all_landed, 90, "every row's line, indexed or dead-lettered", every_s=1.0)
    # A line indexed first could still be dead-lettered too (a bug): one more look at both.
    stack.es.indices.refresh(index=f"{INDEX_PATTERN},{deadletter.INDEX}", ignore_unavailable=True)
    for row in ROWS:
        look(row)
    yield result
    # Other tests read every line of .run/logs as JSON, or count odd documents.
    path.unlink()
    _delete(stack, result)


@pytest.mark.parametrize("row", [pytest.param(row, id=row.name) for row in ROWS])
def test_each_line_is_indexed_or_dead_lettered(landed: Landed, row: Row) -> None:
    """The row's line is in the place the table says, exactly once, as that line."""
    indexed = landed.indexed.get(row.name, [])
    dead = landed.dead.get(row.tracking_id, [])
    if row.lands == INDEXED:
        assert not dead, f"also dead-lettered: {[deadletter.reason(d) for d in dead]}"
        assert [d["_id"] for d in indexed] == [row.event_id]
        assert field(indexed[0], "event.id") == row.event_id
    elif row.lands == DEAD:
        assert not indexed
        (doc,) = dead
        assert doc["_id"] == row.event_id  # libbeat keeps the _id the line asked for
        assert (deadletter.original(doc) or {}).get("tracking_id") == row.tracking_id
        assert deadletter.reason(doc).startswith("400 ")
    elif row.lands == TEXT_ONLY:
        assert not dead
        (doc,) = indexed
        assert doc["message"] == row.line()
        assert field(doc, "error.type") == "json"
    else:
        assert not dead and not indexed
        (doc,) = landed.by_offset[row.name]
        assert "tracking_id" not in doc
        assert "cannot expand" in str(field(doc, "error.message"))


def test_wrong_values_are_named_in_ignored(landed: Landed, stack: Stack) -> None:
    """A value Elasticsearch could not index is listed in the document's _ignored field
    (searchable: Kibana `_ignored:*`) and kept in _source as written."""
    wanted = {
        "duration-string": "event.duration",
        "status-string": "http.response.status_code",
        "ip-malformed": "client.ip",
        "keyword-too-long": "event.action",
        "keyword-beyond-lucene-term": "log.logger",
        "dynamic-keyword-beyond-lucene-term": "note",
    }
    for name, ignored in wanted.items():
        row = next(r for r in ROWS if r.name == name)
        hits = stack.es.search(
            index=INDEX_PATTERN,
            query={"term": {"tracking_id": row.tracking_id}},
        )["hits"]["hits"]
        assert ignored in hits[0].get("_ignored", []), name
        assert field(hits[0]["_source"], ignored) == row.fields[ignored]  # type: ignore[index]


def test_numeric_string_is_still_searchable_as_a_number(landed: Landed, stack: Stack) -> None:
    """ "404" for a long field is coerced, not ignored: a range query finds it."""
    row = next(r for r in ROWS if r.name == "status-numeric-string")
    query = {
        "bool": {
            "filter": [
                {"term": {"tracking_id": row.tracking_id}},
                {"range": {"http.response.status_code": {"gte": 400, "lt": 500}}},
            ]
        }
    }
    assert stack.count(query) == 1


def test_verify_tools_find_a_dead_lettered_line_by_its_id(landed: Landed, stack: Stack) -> None:
    """The reader user (what make verify/trace use) sees the dead-letter index, and the
    phrase query plus exact check finds that ID only."""
    from loadgen.elastic import connect

    reader = connect()
    dead_rows = [row for row in ROWS if row.lands == DEAD]
    found = deadletter.find(reader, [row.tracking_id for row in dead_rows])
    assert set(found) == {row.tracking_id for row in dead_rows}
    # A prefix of a real ID matches the phrase but is not that ID.
    assert deadletter.find(reader, [f"rec-{RUN}"]) == {}


def test_trace_shows_a_dead_lettered_line(landed: Landed) -> None:
    """`make trace` of an ID whose only line was refused: that line, Elasticsearch's reason,
    exit 0 (found, not missing)."""
    row = next(r for r in ROWS if r.name == "id-as-key")
    result = loadgen("trace", row.tracking_id, "--wait", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"DEAD-LETTERED: 1 line of tracking_id {row.tracking_id}" in result.stdout
    assert f"_id {row.event_id}: 400 document_parsing_exception" in result.stdout
    assert "failed to parse field [_id]" in result.stdout
    assert f"record {row.name}" in result.stdout  # the line's own message


def test_verify_names_a_dead_lettered_id_not_missing(landed: Landed, tmp_path: Path) -> None:
    """`make verify` of a run whose request's line was refused: DEAD-LETTERED with the
    reason, never MISSING; the run's dead-letter count; exit 1."""
    row = next(r for r in ROWS if r.name == "alias-written")
    request = manifest.Record.of_response(
        seq=0,
        entry="names",
        endpoint="names",
        method="GET",
        path="/api/names",
        sent_id=row.tracking_id,
        returned_id=row.tracking_id,
        debug=False,
        status=200,
        expected_status=200,
        sent_ms=landed.written_ms,
        received_ms=landed.written_ms + 5,
    )
    (tmp_path / manifest.MANIFEST).write_text(request.to_json() + "\n")
    result = loadgen("verify", str(tmp_path), "--timeout", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert f"DEAD-LETTERED {row.tracking_id}" in out and "MISSING" not in out
    assert "Cannot write to a field alias [http.request.id]" in out
    dead_rows = sum(r.lands == DEAD for r in ROWS)
    assert f"dead-letter index trackstack-deadletter: {dead_rows} lines since the run began" in out
    assert (
        out.rstrip()
        .splitlines()[-1]
        .endswith("1 DEAD-LETTERED (in trackstack-deadletter, not lost)")
    )


def _demo_traffic() -> list[str]:
    """Requests of every kind the demo serves, including errors and a refused ID."""
    paths = ["/api/names", "/api/users", "/api/orders/7", "/api/error?detail=x", "/nope"]
    ids = []
    for path in paths:
        response = requests.get(f"{SERVICE}{path}", timeout=10)
        ids.append(response.headers["X-Tracking-ID"])
    response = requests.get(
        f"{SERVICE}/api/names", headers={"X-Tracking-ID": "bad id!"}, timeout=10
    )
    ids.append(response.headers["X-Tracking-ID"])
    return ids


def test_demo_traffic_dead_letters_nothing(landed: Landed, stack: Stack) -> None:
    """Every document in the dead-letter index is one of this test's own lines: the demo's
    traffic (this test's requests and every other e2e test's) never lands there."""
    ids = _demo_traffic()
    present: Callable[[], bool] = lambda: all(stack.by_id(i) for i in ids)  # noqa: E731
    poll_until(present, 60, "the demo requests' documents")
    time.sleep(2)  # a rejected line would reach the dead-letter index one batch later
    stack.es.indices.refresh(index=deadletter.INDEX, ignore_unavailable=True)
    hits = stack.es.search(index=deadletter.INDEX, size=1000, ignore_unavailable=True)
    files = [
        Path(str(field(deadletter.original(hit["_source"]) or {}, "log.file.path")))
        for hit in hits["hits"]["hits"]
    ]
    foreign = [str(path) for path in files if not path.name.startswith(RECORDS_PREFIX)]
    assert foreign == []
    assert files.count(landed.path) == sum(row.lands == DEAD for row in ROWS)


def test_fields_beyond_the_limit_are_kept_in_source(stack: Stack) -> None:
    """A document with more new fields than the field limit is indexed, the excess kept in
    _source only. Tried in a scratch index of the same template, so that today's index
    keeps its field budget for the other tests."""
    index = f"trackstack-logs-scratch-{RUN}"
    fields = {f"extra_{n}": n for n in range(1500)}
    try:
        stack.es.index(index=index, id="many", document={"tracking_id": "many"} | fields)
        stack.es.indices.refresh(index=index)
        (hit,) = stack.es.search(index=index, query={"term": {"tracking_id": "many"}})["hits"][
            "hits"
        ]
        assert hit["_source"]["extra_1499"] == 1499
        limit = stack.es.indices.get_settings(index=index, include_defaults=True)[index]
        assert "ignore_dynamic_beyond_limit" in json.dumps(limit["settings"])
        assert "extra_1499" in hit.get("_ignored", [])
    finally:
        stack.es.indices.delete(index=index, ignore_unavailable=True)
