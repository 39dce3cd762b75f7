"""docker-compose.cluster.yml, checked without a Docker engine: on top of docker-compose.yml it
is valid, starts three Elasticsearch nodes that find each other, each with the single node's
security, and the same setup, Filebeat and load generator use all three."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
FILES = ["-f", "docker-compose.yml", "-f", "docker-compose.cluster.yml"]
NODES = {"elasticsearch": "trackstack-es", "elasticsearch-2": "trackstack-es-2",
         "elasticsearch-3": "trackstack-es-3"}  # fmt: skip
CLUSTER_CONFIG = yaml.safe_load((REPO / "elasticsearch" / "elasticsearch-cluster.yml").read_text())
SINGLE = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["elasticsearch"]


def compose_config(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose missing: make install-compose-validator (apt-get, as root)"
    return subprocess.run(
        [binary, *FILES, "config", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def merged() -> dict[str, Any]:
    """The services as compose merges the two files (docker-compose v1's `config`)."""
    result = compose_config()
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = yaml.safe_load(result.stdout)["services"]
    return services


def test_the_override_validates() -> None:
    """`docker-compose -f docker-compose.yml -f docker-compose.cluster.yml config -q` accepts it."""
    result = compose_config("-q")
    assert result.returncode == 0, result.stderr


def test_three_nodes_with_their_own_data(merged: dict[str, Any]) -> None:
    """Three nodes of the one image, each its NODE_NAME and its own data volume."""
    data = {}
    for service, node in NODES.items():
        spec = merged[service]
        assert spec["image"] == merged["elasticsearch"]["image"]
        assert spec["environment"]["NODE_NAME"] == node
        (volume,) = [
            v for v in spec["volumes"] if v.split(":")[1] == "/usr/share/elasticsearch/data"
        ]
        data[service] = volume.split(":")[0]
    assert len(set(data.values())) == 3, data


def test_the_nodes_find_each_other() -> None:
    """seed_hosts are the three services, initial masters the three node names."""
    assert set(CLUSTER_CONFIG["discovery.seed_hosts"]) == set(NODES)
    assert set(CLUSTER_CONFIG["cluster.initial_master_nodes"]) == set(NODES.values())
    assert CLUSTER_CONFIG["node.name"] == "${NODE_NAME}"
    assert "discovery.type" not in CLUSTER_CONFIG


@pytest.mark.parametrize("service", sorted(NODES))
def test_each_node_has_the_single_nodes_security(merged: dict[str, Any], service: str) -> None:
    """Same password command and healthcheck, secrets read-only, cluster config mounted, no
    published port beyond the single node's 127.0.0.1:9200."""
    spec = merged[service]
    assert spec["command"] == SINGLE["command"]
    assert spec["healthcheck"]["test"] == SINGLE["healthcheck"]["test"]
    mounts = {v.split(":")[1]: v for v in spec["volumes"]}
    assert mounts["/secrets"].endswith(":ro")
    config = mounts["/usr/share/elasticsearch/config/elasticsearch.yml"]
    assert "elasticsearch-cluster.yml" in config and config.endswith(":ro")
    assert mounts["/usr/share/elasticsearch/config/certs"].endswith(":ro")
    ports = [str(port) for port in spec.get("ports", [])]
    assert ports == (["127.0.0.1:9200:9200/tcp"] if service == "elasticsearch" else []), ports
    assert spec["depends_on"]["certs"]["condition"] == "service_completed_successfully"


def test_security_settings_match_the_single_node() -> None:
    """Security on, HTTP plain as on one node; the transport is TLS with the certs' files."""
    single = yaml.safe_load((REPO / "elasticsearch" / "elasticsearch.yml").read_text())
    for key in ("xpack.security.enabled", "xpack.security.http.ssl.enabled", "cluster.name"):
        assert CLUSTER_CONFIG[key] == single[key], key
    assert CLUSTER_CONFIG["xpack.security.transport.ssl.enabled"] is True
    assert CLUSTER_CONFIG["xpack.security.transport.ssl.key"].startswith("certs/")


def test_setup_waits_for_every_node_and_every_client_lists_them(merged: dict[str, Any]) -> None:
    """setup starts after all three are healthy; setup, Filebeat and loadgen use all three."""
    assert {name: dep["condition"] for name, dep in merged["setup"]["depends_on"].items()} == {
        service: "service_healthy" for service in NODES
    }
    urls = {f"http://{service}:9200" for service in NODES}
    assert set(merged["setup"]["environment"]["ES_URL"].split(",")) == urls
    assert set(merged["filebeat"]["environment"]["ES_HOSTS"].split(",")) == urls
    assert set(merged["loadgen"]["environment"]["ES_URL"].split(",")) == urls


def test_certs_are_made_once_by_certutil(merged: dict[str, Any]) -> None:
    """The one-shot certs service runs elasticsearch-certutil only when no certificate exists."""
    spec = merged["certs"]
    script = spec["command"][2]
    assert spec["restart"] == "no"
    assert "elasticsearch-certutil ca" in script and "elasticsearch-certutil cert" in script
    assert "if [ ! -f node/node.crt ]" in script
