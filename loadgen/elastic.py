"""Connecting to the stack's Elasticsearch the same way in both modes.

URL: ``ES_URL``, one URL or a cluster's nodes comma-separated (the client spreads requests
over them and retries one on another node). Unset: http://127.0.0.1:9200, and with
``ES_NODES=N`` the native cluster's other nodes too (node I at port 9200+2I, as
native/elasticsearch.sh starts them). Credentials, first found wins:
``ES_USERNAME``/``ES_PASSWORD`` in the environment, else ``<SECRETS_DIR>/<user>.env``
(``SECRETS_DIR`` defaults to the repo's ``.secrets/``, where the native stack and compose's
setup both write them), else none (an Elasticsearch without security).
"""

from __future__ import annotations

import os

from elasticsearch import Elasticsearch
from setup.project import INDEX_PATTERN, REPO, read_env_file, secrets_dir

# The project's shared names stay importable from here too (setup/project.py defines them).
__all__ = [
    "INDEX_PATTERN",
    "REPO",
    "connect",
    "credentials",
    "es_url",
    "read_env_file",
    "secrets_dir",
]


def credentials(user: str = "trackstack_reader") -> tuple[str, str] | None:
    """(username, password) for ``user``; ``elastic`` reads ELASTIC_PASSWORD from elastic.env."""
    if os.environ.get("ES_USERNAME") and os.environ.get("ES_PASSWORD"):
        return os.environ["ES_USERNAME"], os.environ["ES_PASSWORD"]
    if user == "elastic":
        password = read_env_file(secrets_dir() / "elastic.env").get("ELASTIC_PASSWORD")
        return ("elastic", password) if password else None
    values = read_env_file(secrets_dir() / f"{user}.env")
    if values.get("ES_USERNAME") and values.get("ES_PASSWORD"):
        return values["ES_USERNAME"], values["ES_PASSWORD"]
    return None


def es_url() -> str:
    """The nodes as one string (comma-separated), for messages and the ES_URL of children."""
    return ",".join(es_hosts())


def es_hosts() -> list[str]:
    given = os.environ.get("ES_URL", "")
    if given.strip():
        return [url.strip() for url in given.split(",") if url.strip()]
    try:
        nodes = max(1, int(os.environ.get("ES_NODES") or 1))
    except ValueError:
        nodes = 1
    return [f"http://127.0.0.1:{9200 + 2 * node}" for node in range(nodes)]


def connect(user: str = "trackstack_reader", timeout_s: float = 10.0) -> Elasticsearch:
    """A client for the stack's Elasticsearch as ``user`` (default: the least-privilege reader)."""
    return Elasticsearch(es_hosts(), basic_auth=credentials(user), request_timeout=timeout_s)
