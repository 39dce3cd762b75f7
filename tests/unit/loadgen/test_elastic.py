"""loadgen/elastic.py: which Elasticsearch nodes the tools use."""

from __future__ import annotations

import pytest

from loadgen import elastic


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
