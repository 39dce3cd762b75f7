"""loadgen/elastic.py: which Elasticsearch nodes the tools use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from loadgen import elastic, verify, watch
from tests.helpers import record


@pytest.mark.parametrize(
    ("env", "hosts"),
    [
        pytest.param({}, ["http://127.0.0.1:9200"], id="default-one-node"),
        pytest.param(
            {"ES_NODES": "2"}, ["http://127.0.0.1:9200", "http://127.0.0.1:9202"], id="es-nodes"
        ),
        pytest.param(
            {"ES_URL": "http://a:9200, http://b:9200", "ES_NODES": "3"},
            ["http://a:9200", "http://b:9200"],
            id="es-url-wins",
        ),
        pytest.param({"ES_NODES": "x"}, ["http://127.0.0.1:9200"], id="bad-count-one-node"),
    ],
)
def test_es_hosts(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], hosts: list[str]) -> None:
    """ES_URL (comma-separated) wins; else the native cluster's ports for ES_NODES (9200+2I)."""
    monkeypatch.delenv("ES_URL", raising=False)
    monkeypatch.delenv("ES_NODES", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert elastic.es_hosts() == hosts
    assert elastic.es_url() == ",".join(hosts)


class Answer(dict[str, Any]):
    """What the client returns: subscriptable, and the same mapping as ``.body``."""

    @property
    def body(self) -> dict[str, Any]:
        return self


class RecordingEs:
    """Records each search's aggregations; answers with no buckets."""

    def __init__(self) -> None:
        self.aggs: list[dict[str, Any]] = []

    def search(self, **kwargs: Any) -> Any:
        self.aggs.append(kwargs["aggs"])
        return Answer(aggregations={"ids": {"buckets": []}})


def test_per_id_counts_matched_documents_without_global_ordinals() -> None:
    assert elastic.per_id(7) == {
        "terms": {"field": "tracking_id", "size": 7, "execution_hint": "map"}
    }
    assert elastic.per_id(3, "event.id")["terms"]["field"] == "event.id"


def _searches() -> list[tuple[str, Callable[[Any], object]]]:
    items = list(verify.expected_by_id([record("names", "id-1")]).values())
    return [
        ("watch.present", lambda es: watch.present(es, ["id-1"], 0.0)),
        ("verify.search_batch", lambda es: verify.search_batch(es, items, 0.0)),
        ("verify.search_mentions", lambda es: verify.search_mentions(es, ["id-1"], 0.0, "x")),
    ]


@pytest.mark.parametrize(("name", "call"), _searches(), ids=[name for name, _ in _searches()])
def test_every_tool_search_by_id_uses_per_id(name: str, call: Callable[[Any], object]) -> None:
    """Each search that buckets by tracking ID skips global ordinals (per_id's docstring)."""
    es = RecordingEs()
    call(es)
    assert es.aggs, name
    for aggs in es.aggs:
        assert aggs["ids"]["terms"]["execution_hint"] == "map", name
