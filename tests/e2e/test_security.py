"""Security end to end: secrets sent through every route never reach Elasticsearch (nor the
log files Filebeat reads), Elasticsearch refuses anonymous callers, the reader cannot write,
Filebeat's user cannot read, and per-request DEBUG needs the right token."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from elasticsearch import AuthorizationException, Elasticsearch
from loadgen.elastic import INDEX_PATTERN, REPO, connect, read_env_file, secrets_dir
from setup.project import poll_until
from tests.e2e.conftest import SERVICE, Stack

# Letters and digits only: one token for the standard analyzer, so a match query finds it.
CANARY = f"canary{uuid.uuid4().hex}"
WRONG_TOKEN = f"wrongtoken{uuid.uuid4().hex}"
SECRET_HEADERS = {
    "Authorization": f"Bearer {CANARY}",
    "Cookie": f"session={CANARY}; theme=dark",
    "X-Api-Key": CANARY,
}
# (method, path, JSON body): every route, plus a 404 and a 405; each also gets ?token=CANARY.
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/health", None),
    ("GET", "/api/users", None),
    ("GET", "/api/names", None),
    ("GET", "/api/item?sku=sku-1", None),
    ("GET", "/api/orders/42", None),
    ("POST", "/api/login", {"username": "ada", "password": CANARY}),
    ("GET", "/api/slow?ms=10", None),
    ("POST", "/api/jobs", {"password": CANARY, "note": f"token={CANARY}"}),
    ("GET", "/api/no-such-route", None),
    ("POST", "/api/health", None),
]
# Exception text: the ways a secret turns up inside free text.
ERROR_DETAILS = [
    f"password={CANARY}",
    f"token: {CANARY}",
    f"Authorization: Bearer {CANARY}",
    f'{{"secret": "{CANARY}"}}',
    f"api_key={CANARY}",
]
TEXT_FIELDS = ["message", "error.message", "error.stack_trace"]
LOGS = REPO / ".run" / "logs"


def debug_token() -> str:
    return read_env_file(secrets_dir() / "service.env")["DEBUG_LOG_TOKEN"]


def send(method: str, path: str, **kwargs: Any) -> requests.Response:
    response = requests.request(method, f"{SERVICE}{path}", timeout=10, **kwargs)
    assert response.headers.get("X-Tracking-ID"), f"{method} {path}: no X-Tracking-ID"
    return response


def with_token_query(path: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}token={CANARY}"


def since(started: float) -> dict[str, Any]:
    return {"range": {"@timestamp": {"gte": int(started * 1000) - 1000, "format": "epoch_millis"}}}


def access_docs_of(stack: Stack, ids: list[str]) -> set[str]:
    found = stack.docs(
        {
            "bool": {
                "filter": [
                    {"terms": {"tracking_id": ids}},
                    {"term": {"event.dataset": "trackstack.access"}},
                ]
            }
        },
        size=len(ids) * 4,
    )
    return {d["tracking_id"] for d in found}


def job_finished(stack: Stack, ids: list[str]) -> bool:
    query = {
        "bool": {
            "filter": [{"terms": {"tracking_id": ids}}, {"term": {"event.action": "job_finished"}}]
        }
    }
    return stack.count(query) == len(ids)


@pytest.fixture(scope="module")
def canary_run(stack: Stack) -> tuple[float, list[str]]:
    """Every route with the canary in headers, query, body and exception text, with and
    without per-request DEBUG (its request summary logs headers, query and body shape);
    returns (start time, tracking IDs) once all their documents are searchable."""
    started = time.time()
    ids: list[str] = []
    jobs: list[str] = []
    for debug in (False, True):
        headers = dict(SECRET_HEADERS)
        if debug:
            headers |= {"X-Debug-Log": "1", "X-Debug-Token": debug_token()}
        for method, path, body in ROUTES:
            response = send(method, with_token_query(path), headers=headers, json=body)
            assert CANARY not in response.text
            ids.append(response.headers["X-Tracking-ID"])
            if path == "/api/jobs":
                jobs.append(ids[-1])
        for detail in ERROR_DETAILS:
            response = send("GET", "/api/error", params={"detail": detail}, headers=headers)
            assert response.status_code == 500 and CANARY not in response.text
            ids.append(response.headers["X-Tracking-ID"])
    # An invalid client ID carrying the canary: refused, never echoed or logged.
    refused = send("GET", "/api/names", headers={"X-Tracking-ID": f"<{CANARY}>"})
    assert CANARY not in refused.headers["X-Tracking-ID"]
    ids.append(refused.headers["X-Tracking-ID"])
    poll_until(
        lambda: access_docs_of(stack, ids) == set(ids), 60, f"access documents of {len(ids)} IDs"
    )
    poll_until(lambda: job_finished(stack, jobs), 30, "the jobs' job_finished lines")
    return started, ids


def test_canary_reaches_no_document_by_search(
    stack: Stack, canary_run: tuple[float, list[str]]
) -> None:
    """Full-text searches for the canary, field by field and across all fields, find nothing."""
    queries: dict[str, dict[str, Any]] = {
        field: {"match": {field: CANARY}} for field in TEXT_FIELDS
    }
    queries["multi_match"] = {"multi_match": {"query": CANARY, "fields": ["*"], "lenient": True}}
    queries["query_string"] = {"query_string": {"query": CANARY, "lenient": True}}
    hits = {name: stack.count(query) for name, query in queries.items()}
    assert hits == dict.fromkeys(queries, 0), f"documents holding the canary: {hits}"


def test_canary_is_in_no_document_of_the_run(
    stack: Stack, canary_run: tuple[float, list[str]]
) -> None:
    """Every document since the run began (its IDs' and any other), read back as JSON, and
    every log line the service wrote: no canary, no wrong token, no raw refused ID."""
    started, ids = canary_run
    docs = stack.docs({"bool": {"filter": [since(started)]}}, size=10_000)
    mine = [d for d in docs if d.get("tracking_id") in set(ids)]
    assert len({d["tracking_id"] for d in mine}) == len(set(ids))
    redacted = [d for d in mine if "[REDACTED]" in json.dumps(d)]
    assert redacted, "no document shows a redaction: did the secrets reach the service?"
    leaked = [d["_id"] for d in docs if CANARY in json.dumps(d, ensure_ascii=False)]
    assert not leaked, f"{len(leaked)} documents contain the canary, e.g. {leaked[:5]}"
    lines = [p.read_text(errors="replace") for p in LOGS.glob("*.ndjson*")]
    assert not any(CANARY in text for text in lines), "the canary is in a log file"


@pytest.mark.parametrize("port", [9200, 9201], ids=["esfront", "elasticsearch"])
@pytest.mark.parametrize(
    "path", ["/", "/_cluster/health", f"/{INDEX_PATTERN}/_search"], ids=["root", "health", "search"]
)
def test_elasticsearch_refuses_anonymous_callers(stack: Stack, port: int, path: str) -> None:
    """No credentials, or a wrong password: 401 on both ports, with no data in the answer."""
    url = f"http://127.0.0.1:{port}{path}"
    anonymous = requests.get(url, timeout=10)
    assert anonymous.status_code == 401, anonymous.text[:200]
    wrong = requests.get(url, auth=("elastic", "not-the-password"), timeout=10)
    assert wrong.status_code == 401, wrong.text[:200]
    assert "hits" not in anonymous.text and "cluster_name" not in anonymous.text


def today_index() -> str:
    return f"trackstack-logs-{datetime.now(UTC):%Y.%m.%d}"


def refused(call: Any) -> bool:
    try:
        call()
    except AuthorizationException:
        return True
    return False


def test_the_reader_cannot_write(stack: Stack) -> None:
    """The reader (verify, trace, workshops) reads, and is refused every write."""
    reader: Elasticsearch = connect("trackstack_reader")
    assert reader.count(index=INDEX_PATTERN)["count"] >= 0
    index = today_index()
    document = {"@timestamp": datetime.now(UTC).isoformat(), "message": "forged"}
    assert refused(lambda: reader.index(index=index, document=document))
    assert refused(lambda: reader.create(index=index, id=uuid.uuid4().hex, document=document))
    existing = stack.es.search(index=INDEX_PATTERN, size=1)["hits"]["hits"][0]
    target = {"index": existing["_index"], "id": existing["_id"]}
    assert refused(lambda: reader.update(**target, doc={"message": "forged"}))
    assert refused(lambda: reader.delete(**target))
    assert refused(lambda: reader.indices.delete(index=index))
    assert refused(
        lambda: reader.indices.put_index_template(name="trackstack-logs", index_patterns=["x-*"])
    )
    assert stack.count({"match": {"message": "forged"}}) == 0


def test_filebeats_user_cannot_read_or_delete(stack: Stack) -> None:
    """Filebeat's user may only add documents: searching or deleting is refused."""
    writer: Elasticsearch = connect("trackstack_filebeat")
    assert refused(lambda: writer.search(index=INDEX_PATTERN, query={"match_all": {}}))
    assert refused(lambda: writer.indices.delete(index=today_index()))


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param(WRONG_TOKEN, "bad token", id="wrong-token"),
        pytest.param(None, "missing token", id="no-token"),
    ],
)
def test_debug_needs_the_token(stack: Stack, token: str | None, reason: str) -> None:
    """X-Debug-Log without the right token: no DEBUG documents, one debug_refused WARNING,
    and the offered token appears nowhere; the right token (the control) gets DEBUG."""
    headers = {"X-Debug-Log": "1"} | ({"X-Debug-Token": token} if token else {})
    response = send("GET", "/api/users", headers=headers)
    assert response.status_code == 200 and response.headers.get("X-Debug-Log") is None
    control = send(
        "GET", "/api/users", headers={"X-Debug-Log": "1", "X-Debug-Token": debug_token()}
    )
    assert control.headers.get("X-Debug-Log") == "on"
    refused_id, control_id = response.headers["X-Tracking-ID"], control.headers["X-Tracking-ID"]

    def levels(tracking_id: str) -> list[str]:
        return [d["log"]["level"] for d in stack.by_id(tracking_id)]

    poll_until(lambda: "debug" in levels(control_id), 30, "the control request's DEBUG lines")
    docs = poll_until(
        lambda: (
            [d for d in stack.by_id(refused_id) if d["event"]["dataset"] == "trackstack.access"]
            and stack.by_id(refused_id)
        ),
        30,
        "the refused request's documents",
    )
    assert "debug" not in [d["log"]["level"] for d in docs]
    warnings = [d for d in docs if d.get("event", {}).get("action") == "debug_refused"]
    assert len(warnings) == 1 and warnings[0]["log"]["level"] == "warning"
    assert warnings[0]["labels"]["reason"] == reason
    if token:
        assert stack.count({"query_string": {"query": token, "lenient": True}}) == 0
        assert token not in json.dumps(docs)
