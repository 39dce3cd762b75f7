"""Unit tests for python -m setup (setup/__main__.py) and the data files it applies
(no Elasticsearch needed)."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from setup import __main__ as setup
from setup.project import REPO

ES_DIR = REPO / "elasticsearch"

# The log record of docs/DESIGN.md plus what Filebeat adds, with the type each must have.
DESIGN_FIELDS = {
    "@timestamp": "date",
    "log.level": "keyword",
    "message": "text",
    "service.name": "keyword",
    "event.dataset": "keyword",
    "event.id": "keyword",
    "event.action": "keyword",
    "event.duration": "long",
    "tracking_id": "keyword",
    "http.request.id": "alias",
    "trace.id": "keyword",
    "span.id": "keyword",
    "http.request.method": "keyword",
    "url.path": "keyword",
    "url.query": "keyword",
    "http.response.status_code": "long",
    "http.response.body.bytes": "long",
    "client.ip": "ip",
    "user_agent.original": "keyword",
    "error.type": "keyword",
    "error.message": "text",
    "error.stack_trace": "text",
    "host.name": "keyword",
    "log.logger": "keyword",
    "process.pid": "long",
    "log.file.path": "keyword",
    "log.offset": "long",
}
# Field types of the Elasticsearch server itself: the native zip has no mapper modules.
CORE_TYPES = {
    "date",
    "keyword",
    "text",
    "long",
    "integer",
    "short",
    "ip",
    "alias",
    "boolean",
    "object",
}


def flatten_properties(properties: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """{"a.b": mapping} for properties written either dotted or as nested objects."""
    fields = {}
    for name, mapping in properties.items():
        path = prefix + name
        if "properties" in mapping:
            fields.update(flatten_properties(mapping["properties"], path + "."))
        else:
            fields[path] = mapping
    return fields


@pytest.fixture
def template() -> dict[str, Any]:
    return setup.load_json_dir(ES_DIR / "templates")["trackstack-logs"]


@pytest.fixture
def mapped_fields(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return flatten_properties(template["template"]["mappings"]["properties"])


@pytest.fixture
def roles() -> dict[str, dict[str, Any]]:
    return setup.load_json_dir(ES_DIR / "roles")


@pytest.fixture
def users() -> dict[str, dict[str, Any]]:
    return setup.load_json_dir(ES_DIR / "users")


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return setup.Settings.from_env({"SECRETS_DIR": str(tmp_path / "secrets")})


# --- the index template -----------------------------------------------------------------------


def test_template_targets_daily_indices_not_data_streams(template: dict[str, Any]) -> None:
    """The template matches trackstack-logs-* only, with 1 shard, 0 replicas, no data stream."""
    assert template["index_patterns"] == ["trackstack-logs-*"]
    settings = template["template"]["settings"]
    assert (settings["number_of_shards"], settings["number_of_replicas"]) == (1, 0)
    assert "data_stream" not in template
    assert "lifecycle" not in json.dumps(template)


def test_template_refreshes_every_250ms(template: dict[str, Any]) -> None:
    """Lines are searchable within a quarter second of indexing: time to searchable p95 0.64 s
    at 200 req/s against 0.92 s at 500ms, for +13 % of Elasticsearch's CPU per document
    (docs/PERFORMANCE.md, "refresh")."""
    assert template["template"]["settings"]["refresh_interval"] == "250ms"


@pytest.mark.parametrize(("field", "expected_type"), DESIGN_FIELDS.items(), ids=DESIGN_FIELDS)
def test_design_field_is_mapped(
    mapped_fields: dict[str, dict[str, Any]], field: str, expected_type: str
) -> None:
    """Every field docs/DESIGN.md names is mapped explicitly, with the agreed type."""
    assert mapped_fields[field]["type"] == expected_type


def test_http_request_id_aliases_an_existing_keyword(mapped_fields: dict[str, Any]) -> None:
    """http.request.id is an alias whose target exists and is a keyword."""
    target = mapped_fields["http.request.id"]["path"]
    assert target == "tracking_id"
    assert mapped_fields[target]["type"] == "keyword"


def test_template_uses_core_field_types_only(mapped_fields: dict[str, Any]) -> None:
    """No type from a module the native zip lacks (match_only_text, wildcard, ...)."""
    assert {mapping["type"] for mapping in mapped_fields.values()} <= CORE_TYPES


def test_unmapped_strings_become_keywords(template: dict[str, Any]) -> None:
    """Dynamic mapping turns any other string into a keyword, never a date guess."""
    mappings = template["template"]["mappings"]
    rule = next(
        t["strings_as_keyword"] for t in mappings["dynamic_templates"] if "strings_as_keyword" in t
    )
    assert rule["match_mapping_type"] == "string"
    assert rule["mapping"]["type"] == "keyword"
    assert mappings["date_detection"] is False


def test_template_keeps_documents_with_wrong_types_or_shapes(template: dict[str, Any]) -> None:
    """Elastic's logs@settings choices (ignore_malformed, ignore_dynamic_beyond_limit) plus
    subobjects: false, each explained in the template's _meta."""
    settings = template["template"]["settings"]
    assert settings["index.mapping.ignore_malformed"] is True
    assert settings["index.mapping.total_fields.ignore_dynamic_beyond_limit"] is True
    assert template["template"]["mappings"]["subobjects"] is False
    strategy = template["_meta"]["strategy"]
    for term in ("ignore_malformed", "subobjects", "ignore_dynamic_beyond_limit"):
        assert term in strategy
    assert "trackstack-deadletter" in strategy


def test_no_object_mapping_under_subobjects_false(mapped_fields: dict[str, Any]) -> None:
    """Elasticsearch refuses an object mapping where subobjects is false: every explicit
    field is a leaf, and debug dumps are stored unindexed by a dynamic template instead."""
    assert "object" not in {mapping["type"] for mapping in mapped_fields.values()}


def test_debug_dumps_are_stored_not_indexed(template: dict[str, Any]) -> None:
    """Every leaf under http.request.headers and http.request.body.shape: not indexed, no
    doc values (as "enabled": false was), listed before the string rule so it wins."""
    (first, *_) = template["template"]["mappings"]["dynamic_templates"]
    rule = first["debug_dumps_unindexed"]
    assert rule["path_match"] == ["http.request.headers.*", "http.request.body.shape.*"]
    assert rule["mapping"] == {"type": "keyword", "index": False, "doc_values": False}


def test_dead_letter_template_maps_what_filebeat_writes() -> None:
    """trackstack-deadletter: the four fields libbeat's dead-letter document has, message as
    text (phrase-searchable by tracking ID), nothing dynamic, core types only."""
    template = setup.load_json_dir(ES_DIR / "templates")["trackstack-deadletter"]
    assert template["index_patterns"] == ["trackstack-deadletter"]
    mappings = template["template"]["mappings"]
    assert mappings["dynamic"] is False
    assert {name: m["type"] for name, m in mappings["properties"].items()} == {
        "@timestamp": "date",
        "message": "text",
        "error.type": "keyword",
        "error.message": "text",
    }
    assert "analyzer" not in mappings["properties"]["message"]  # standard: splits JSON


# --- roles and users --------------------------------------------------------------------------


def test_filebeat_writer_may_only_create(roles: dict[str, dict[str, Any]]) -> None:
    """The Filebeat role can add documents and indices (daily and dead-letter), and monitor;
    nothing else."""
    role = roles["trackstack_filebeat_writer"]
    assert role["cluster"] == ["monitor"]
    assert role["indices"] == [
        {
            "names": ["trackstack-logs-*", "trackstack-deadletter"],
            "privileges": ["create_doc", "create_index", "auto_configure"],
        }
    ]


def test_reader_cannot_write(roles: dict[str, dict[str, Any]]) -> None:
    """The reader role reads trackstack logs and dead letters, with no write or cluster
    privilege."""
    role = roles["trackstack_reader"]
    assert role["cluster"] == []
    assert role["indices"][0]["names"] == ["trackstack-logs-*", "trackstack-deadletter"]
    assert {p for grant in role["indices"] for p in grant["privileges"]} == {
        "read",
        "view_index_metadata",
    }


def test_every_user_role_is_defined(
    roles: dict[str, dict[str, Any]], users: dict[str, dict[str, Any]]
) -> None:
    """Users refer only to roles that elasticsearch/roles/ defines."""
    for spec in users.values():
        assert set(spec.get("roles", [])) <= set(roles)


def test_required_privileges_collects_role_grants(roles: dict[str, dict[str, Any]]) -> None:
    """The has_privileges request asks for every cluster and index grant of the roles."""
    body = setup.required_privileges(roles, ["trackstack_filebeat_writer"])
    assert body["cluster"] == ["monitor"]
    assert body["index"][0]["privileges"] == ["create_doc", "create_index", "auto_configure"]


# --- file realm -------------------------------------------------------------------------------


def test_pbkdf2_hash_matches_elasticsearch_format() -> None:
    """The hash is {PBKDF2}<cost>$<salt>$<key> with a PBKDF2-HMAC-SHA512 256-bit key."""
    salt = bytes(range(32))
    cost, salt_b64, key_b64 = setup.pbkdf2_hash("s3cret", salt).removeprefix("{PBKDF2}").split("$")
    expected = hashlib.pbkdf2_hmac("sha512", b"s3cret", salt, int(cost), dklen=32)
    assert int(cost) == 10_000
    assert base64.b64decode(salt_b64) == salt
    assert base64.b64decode(key_b64) == expected


def test_file_realm_files_list_service_users_not_reserved_ones(
    roles: dict[str, dict[str, Any]],
) -> None:
    """users/users_roles name each service user; built-in (reserved) users are left out."""
    users = {
        "alice": {"roles": ["trackstack_reader"]},
        "bob": {"roles": ["trackstack_reader", "trackstack_filebeat_writer"]},
        "kibana_system": {"reserved": True},
    }
    files = setup.file_realm_files(roles, users, {"alice": "a", "bob": "b"})

    assert [line.split(":")[0] for line in files["users"].splitlines()] == ["alice", "bob"]
    assert files["users_roles"].splitlines() == [
        "trackstack_reader:alice,bob",
        "trackstack_filebeat_writer:bob",
    ]


def test_roles_yml_has_one_json_role_per_line(roles: dict[str, dict[str, Any]]) -> None:
    """Each roles.yml line is `name: {json}`, the shape Elasticsearch's line-based parser needs."""
    lines = setup.file_realm_files(roles, {}, {})["roles.yml"].splitlines()
    parsed = {line.split(": ", 1)[0]: json.loads(line.split(": ", 1)[1]) for line in lines}
    assert parsed == roles


# --- secrets and idempotence ------------------------------------------------------------------


def test_password_is_generated_once_and_private(settings: Any) -> None:
    """A user's password is written on first use with mode 600 and reused afterwards."""
    first = setup.ensure_password(settings, "trackstack_reader")
    second = setup.ensure_password(settings, "trackstack_reader")
    secret_file = settings.secrets_dir / "trackstack_reader.env"

    assert first == second
    assert setup.read_env_file(secret_file) == {
        "ES_USERNAME": "trackstack_reader",
        "ES_PASSWORD": first,
    }
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600


def test_elastic_password_is_read_from_secrets_dir(tmp_path: Path) -> None:
    """Without ELASTIC_PASSWORD in the environment, elastic.env supplies it."""
    (tmp_path / "elastic.env").write_text("# made by setup\nELASTIC_PASSWORD=from-file\n")
    settings = setup.Settings.from_env({"SECRETS_DIR": str(tmp_path)})
    assert settings.elastic_password == "from-file"


def test_source_hash_ignores_key_order() -> None:
    """The hash that marks an applied body does not depend on key order."""
    assert setup.source_hash({"a": 1, "b": [1, 2]}) == setup.source_hash({"b": [1, 2], "a": 1})


def test_stamped_adds_hash_without_touching_the_input() -> None:
    """stamped() returns a copy whose meta object carries the hash of the original body."""
    body = {"cluster": ["monitor"], "metadata": {"owner": "trackstack"}}
    result = setup.stamped(body, "metadata")

    assert body == {"cluster": ["monitor"], "metadata": {"owner": "trackstack"}}
    assert result["metadata"] == {
        "owner": "trackstack",
        setup.SOURCE_HASH_KEY: setup.source_hash(body),
    }


@pytest.mark.parametrize(
    ("data_nodes", "replicas"),
    [
        pytest.param(1, 0, id="one-node"),
        pytest.param(2, 1, id="two-nodes"),
        pytest.param(3, 1, id="three-nodes"),
    ],
)
def test_replicas_follow_the_data_nodes(
    template: dict[str, Any], data_nodes: int, replicas: int
) -> None:
    """One replica as soon as a second data node can hold it; the rest of the body unchanged."""
    body = setup.with_replicas(template, setup.replicas_for(data_nodes))
    assert body["template"]["settings"]["number_of_replicas"] == replicas
    assert body["template"]["settings"]["number_of_shards"] == 1
    assert body["template"]["mappings"] == template["template"]["mappings"]
    assert template["template"]["settings"]["number_of_replicas"] == 0  # a copy, not changed
