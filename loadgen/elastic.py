"""Connecting to the stack's Elasticsearch the same way in both modes.

URL: ``ES_URL`` (default http://127.0.0.1:9200). Credentials, first found wins:
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
    return os.environ.get("ES_URL", "http://127.0.0.1:9200")


def connect(user: str = "trackstack_reader", timeout_s: float = 10.0) -> Elasticsearch:
    """A client for the stack's Elasticsearch as ``user`` (default: the least-privilege reader)."""
    return Elasticsearch(es_url(), basic_auth=credentials(user), request_timeout=timeout_s)
