"""One-shot, re-runnable Elasticsearch setup, the same for the native stack and compose.

    .venv/bin/python -m setup                   # over HTTP: template, roles, users
    .venv/bin/python -m setup secrets           # only generate missing secrets
    .venv/bin/python -m setup file-realm DIR    # write roles/users as ES config files
    .venv/bin/python -m setup kibana            # compose: Kibana's data view, dashboard

Everything comes from the JSON data files in elasticsearch/: templates/ (index templates),
roles/ and users/ (one file per role or user, named after it). Passwords are generated
once: elastic's into <SECRETS_DIR>/elastic.env (ELASTIC_PASSWORD=), each user's into
<SECRETS_DIR>/<user>.env (ES_USERNAME=, ES_PASSWORD=), the form a shell's `source`, docker
compose's env_file and Filebeat's ${VAR} expansion all read. The other generated secrets live
beside them: kibana.env (Kibana's encryption keys) and service.env (the service's
DEBUG_LOG_TOKEN). Re-running changes nothing and exits 0.

Replicas are decided here, not in the template files: number_of_replicas is 1 when the
cluster has more than one data node (a node can be lost without losing a document: README,
"Scaling out") and 0 on one node (a replica could never be assigned there, leaving the
cluster yellow). Existing indices get the same value; re-running after the node count changed
updates both.

Where roles and users live depends on the Elasticsearch:
- compose (full distribution): in the security index, created through the security API.
- native (the integ-test-zip): that zip lacks the analysis-common module the security index
  mapping needs, so the index can never be created. native/elasticsearch.sh therefore runs
  the `file-realm` command before starting the node, and the HTTP run then only verifies
  that each user authenticates and holds its roles' privileges.

Environment (default):
    ES_URL            http://127.0.0.1:9200; a cluster's nodes comma-separated (the client
                      then uses them all and retries a request on another node)
    ELASTIC_PASSWORD  else read from <SECRETS_DIR>/elastic.env; with neither, no credentials
                      are sent (fine for a cluster with security off)
    SECRETS_DIR       <repo>/.secrets
    ES_CONFIG_DIR     <repo>/elasticsearch
    SETUP_TIMEOUT     120 (seconds to wait for Elasticsearch, or for Kibana)
    KIBANA_URL        http://127.0.0.1:5601 (the `kibana` command)
    KIBANA_DIR        <repo>/kibana: every *.ndjson there is imported, in name order
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from elasticsearch import (
    ApiError,
    AuthenticationException,
    Elasticsearch,
    NotFoundError,
    TransportError,
)
from setup import project
from setup.project import DATA_VIEW_ID, REPO, PollTimeout, poll_until, read_env_file

# Stamped into each object we put, so a re-run can tell "already applied" from "changed".
SOURCE_HASH_KEY = "trackstack_source_sha256"
# Elasticsearch's own default cost for PBKDF2 password hashes.
PBKDF2_ITERATIONS = 10_000
# Secrets that are not Elasticsearch passwords: <SECRETS_DIR>/<file>, one KEY=value per line.
# Kibana wants encryption keys of at least 32 characters.
GENERATED_SECRETS = {
    "kibana.env": (
        "KIBANA_SECURITY_ENCRYPTION_KEY",
        "KIBANA_SAVED_OBJECTS_ENCRYPTION_KEY",
        "KIBANA_REPORTING_ENCRYPTION_KEY",
    ),
    "service.env": ("DEBUG_LOG_TOKEN",),
}
KIBANA_POLL_S = 3.0


class SetupError(Exception):
    """An expected failure, reported as one line without a traceback."""


@dataclass(frozen=True)
class Settings:
    es_url: str
    elastic_password: str | None
    secrets_dir: Path
    config_dir: Path
    timeout: float
    kibana_url: str = "http://127.0.0.1:5601"
    kibana_dir: Path = REPO / "kibana"

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Settings:
        secrets_dir = project.secrets_dir(env)
        from_file = read_env_file(secrets_dir / "elastic.env").get("ELASTIC_PASSWORD")
        password = env.get("ELASTIC_PASSWORD") or from_file
        return cls(
            es_url=env.get("ES_URL", "http://127.0.0.1:9200"),
            elastic_password=password or None,
            secrets_dir=secrets_dir,
            config_dir=Path(env.get("ES_CONFIG_DIR", REPO / "elasticsearch")),
            timeout=float(env.get("SETUP_TIMEOUT", "120")),
            kibana_url=env.get("KIBANA_URL", "http://127.0.0.1:5601").rstrip("/"),
            kibana_dir=Path(env.get("KIBANA_DIR", REPO / "kibana")),
        )

    def load(self, kind: str) -> dict[str, dict[str, Any]]:
        """The data files of one kind: templates, roles or users."""
        return load_json_dir(self.config_dir / kind)


# --- pure helpers (unit-tested) ---------------------------------------------------------------


def write_private_file(path: Path, text: str) -> None:
    """Replace path atomically with text, readable by its owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    tmp.replace(path)


def load_json_dir(directory: Path) -> dict[str, dict[str, Any]]:
    """{file stem: parsed JSON} for every *.json in directory, in name order."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def source_hash(body: dict[str, Any]) -> str:
    """A stable digest of a request body, independent of key order and whitespace."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def stamped(body: dict[str, Any], meta_key: str) -> dict[str, Any]:
    """A copy of body whose meta_key object (_meta, metadata) carries the body's hash."""
    meta = {**body.get(meta_key, {}), SOURCE_HASH_KEY: source_hash(body)}
    return {**body, meta_key: meta}


def pbkdf2_hash(password: str, salt: bytes | None = None) -> str:
    """A password hash in Elasticsearch's {PBKDF2} format (HMAC-SHA512, 256-bit key)."""
    salt = salt or secrets.token_bytes(32)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, dklen=32)
    b64 = base64.b64encode
    return f"{{PBKDF2}}{PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(key).decode()}"


def file_realm_files(
    roles: dict[str, dict[str, Any]],
    users: dict[str, dict[str, Any]],
    passwords: dict[str, str],
) -> dict[str, str]:
    """The text of roles.yml, users and users_roles for Elasticsearch's file realm.
    Reserved (built-in) users are left out: they can only live in the security index."""
    members: dict[str, list[str]] = {}
    user_lines = []
    for username, spec in users.items():
        if spec.get("reserved"):
            continue
        user_lines.append(f"{username}:{pbkdf2_hash(passwords[username])}\n")
        for role in spec["roles"]:
            members.setdefault(role, []).append(username)
    return {
        # One "name: {json}" line per role: JSON is valid YAML, and Elasticsearch splits
        # roles.yml into roles at lines that start in the first column.
        "roles.yml": "".join(f"{name}: {json.dumps(body)}\n" for name, body in roles.items()),
        "users": "".join(user_lines),
        "users_roles": "".join(f"{role}:{','.join(names)}\n" for role, names in members.items()),
    }


def replicas_for(data_nodes: int) -> int:
    """number_of_replicas for a cluster of ``data_nodes``: one copy more than the primary as
    soon as another node can hold it (Elasticsearch never puts both on one node)."""
    return 1 if data_nodes > 1 else 0


def with_replicas(body: dict[str, Any], replicas: int) -> dict[str, Any]:
    """A copy of an index template body with template.settings.number_of_replicas set."""
    template = body.get("template", {})
    settings = {**template.get("settings", {}), "number_of_replicas": replicas}
    return {**body, "template": {**template, "settings": settings}}


def required_privileges(roles: dict[str, dict[str, Any]], role_names: list[str]) -> dict[str, Any]:
    """A has_privileges request body asking for everything the named roles grant."""
    cluster: list[str] = []
    index: list[dict[str, Any]] = []
    for name in role_names:
        cluster += [p for p in roles[name].get("cluster", []) if p not in cluster]
        index += [
            {"names": grant["names"], "privileges": grant["privileges"]}
            for grant in roles[name].get("indices", [])
        ]
    return {"cluster": cluster, "index": index}


# --- passwords --------------------------------------------------------------------------------


def ensure_password(settings: Settings, username: str) -> str:
    """The user's password from <SECRETS_DIR>/<user>.env, generated there on first use."""
    secret_file = settings.secrets_dir / f"{username}.env"
    password = read_env_file(secret_file).get("ES_PASSWORD")
    if not password:
        password = secrets.token_urlsafe(18)
        write_private_file(secret_file, f"ES_USERNAME={username}\nES_PASSWORD={password}\n")
    return password


def ensure_values(path: Path, keys: tuple[str, ...]) -> None:
    """Give every key of an env file a random value if it has none; keep the others."""
    values = read_env_file(path)
    missing = [key for key in keys if not values.get(key)]
    if missing:
        values.update({key: secrets.token_hex(32) for key in missing})
        write_private_file(path, "".join(f"{key}={value}\n" for key, value in values.items()))


def ensure_secrets(settings: Settings) -> None:
    """Generate every missing secret: elastic's password, each user's, and GENERATED_SECRETS."""
    elastic_file = settings.secrets_dir / "elastic.env"
    if not read_env_file(elastic_file).get("ELASTIC_PASSWORD"):
        password = settings.elastic_password or secrets.token_urlsafe(18)
        write_private_file(elastic_file, f"ELASTIC_PASSWORD={password}\n")
        say(f"generated the elastic password into {elastic_file}")
    for username in settings.load("users"):
        ensure_password(settings, username)
    for filename, keys in GENERATED_SECRETS.items():
        ensure_values(settings.secrets_dir / filename, keys)


def write_file_realm(settings: Settings, es_config_dir: Path) -> None:
    ensure_secrets(settings)
    users = settings.load("users")
    passwords = {
        name: ensure_password(settings, name)
        for name, spec in users.items()
        if not spec.get("reserved")
    }
    for filename, text in file_realm_files(settings.load("roles"), users, passwords).items():
        write_private_file(es_config_dir / filename, text)
    say(f"file realm: {len(passwords)} users written to {es_config_dir}")


# --- talking to Elasticsearch -----------------------------------------------------------------


def say(message: str) -> None:
    print(f"setup: {message}", flush=True)


def connect(es_url: str, username: str, password: str | None) -> Elasticsearch:
    auth = (username, password) if password else None
    hosts = [url.strip() for url in es_url.split(",") if url.strip()]
    return Elasticsearch(hosts, basic_auth=auth, request_timeout=15)


def wait_for_elasticsearch(es: Elasticsearch, settings: Settings) -> str:
    """Block until the cluster is yellow or green; return its status."""

    def health() -> str:
        try:
            return str(es.cluster.health(wait_for_status="yellow", timeout="5s")["status"])
        except AuthenticationException as err:
            # Wrong or missing credentials never fix themselves: fail now, not at the timeout.
            raise SetupError(
                f"Elasticsearch at {settings.es_url} refused the credentials ({err.message}); "
                f"set ELASTIC_PASSWORD or check {settings.secrets_dir / 'elastic.env'}"
            ) from err

    try:
        # Refused, 503 while starting, 408 timeout: not yet.
        return poll_until(health, settings.timeout, "yellow", 2, (TransportError, ApiError))
    except PollTimeout as exc:
        raise SetupError(f"Elasticsearch at {settings.es_url} not ready: {exc}") from exc


def security_enabled(es: Elasticsearch) -> bool:
    try:
        es.security.authenticate()
    except AuthenticationException:
        raise
    except ApiError:
        return False  # security disabled, or no security plugin at all
    return True


def authenticate(settings: Settings, username: str, password: str) -> dict[str, Any] | None:
    """The _authenticate answer for these credentials, or None if they are refused."""
    try:
        return dict(connect(settings.es_url, username, password).security.authenticate())
    except AuthenticationException:
        return None


def put_template(es: Elasticsearch, name: str, body: dict[str, Any]) -> str:
    desired = stamped(body, "_meta")
    try:
        found = es.indices.get_index_template(name=name)["index_templates"]
        current = found[0]["index_template"]
    except NotFoundError:
        current = None
    if current and current.get("_meta", {}).get(SOURCE_HASH_KEY) == source_hash(body):
        return "unchanged"
    es.indices.put_index_template(name=name, body=desired)
    return "updated" if current else "created"


def put_role(es: Elasticsearch, name: str, body: dict[str, Any]) -> str:
    try:
        current = es.security.get_role(name=name)[name]
    except NotFoundError:
        current = None
    if current and current.get("metadata", {}).get(SOURCE_HASH_KEY) == source_hash(body):
        return "unchanged"
    es.security.put_role(name=name, body=stamped(body, "metadata"))
    return "updated" if current else "created"


def put_user(es: Elasticsearch, settings: Settings, username: str, spec: dict[str, Any]) -> str:
    """Create or update one user; a spec with "reserved": true is a built-in user (e.g.
    kibana_system) whose password is the only thing managed here."""
    password = ensure_password(settings, username)
    if spec.get("reserved"):
        if authenticate(settings, username, password):
            return "unchanged"
        es.security.change_password(username=username, password=password)
        return "password set"

    try:
        current = es.security.get_user(username=username)[username]
    except NotFoundError:
        current = None
    if (
        current
        and current.get("metadata", {}).get(SOURCE_HASH_KEY) == source_hash(spec)
        and authenticate(settings, username, password)
    ):
        return "unchanged"
    body = {**stamped(spec, "metadata"), "password": password}
    es.security.put_user(username=username, body=body)
    return "updated" if current else "created"


def verify_file_realm_user(settings: Settings, username: str, spec: dict[str, Any]) -> str:
    """Check a user that native/elasticsearch.sh wrote into the file realm."""
    if spec.get("reserved"):
        return "skipped (built-in users need the security index)"
    client = connect(settings.es_url, username, ensure_password(settings, username))
    answer = client.security.has_privileges(
        body=required_privileges(settings.load("roles"), spec["roles"])
    )
    if not answer["has_all_requested"]:
        raise SetupError(f"user {username} lacks privileges of {spec['roles']}: {answer}")
    return "verified (file realm)"


def uses_file_realm(settings: Settings, users: dict[str, dict[str, Any]]) -> bool:
    """True when the service users authenticate through the file realm (native mode)."""
    for username, spec in users.items():
        if not spec.get("reserved"):
            answer = authenticate(settings, username, ensure_password(settings, username))
            return answer is not None and answer["authentication_realm"]["type"] == "file"
    return False


def run(settings: Settings) -> None:
    es = connect(settings.es_url, "elastic", settings.elastic_password)
    status = wait_for_elasticsearch(es, settings)
    secured = security_enabled(es)
    say(f"Elasticsearch at {settings.es_url} is {status}; security {'on' if secured else 'off'}")

    data_nodes = int(es.cluster.health()["number_of_data_nodes"])
    replicas = replicas_for(data_nodes)
    say(f"{data_nodes} data node(s): number_of_replicas {replicas}")
    for name, body in settings.load("templates").items():
        body = with_replicas(body, replicas)
        say(f"index template {name}: {put_template(es, name, body)}")
        # The template shapes new indices only; today's may exist already.
        es.indices.put_settings(
            index=",".join(body["index_patterns"]),
            settings={"index.number_of_replicas": replicas},
            allow_no_indices=True,
            ignore_unavailable=True,
        )
    if not secured:
        say("security is off: no roles or users to set up")
        return

    users = settings.load("users")
    if uses_file_realm(settings, users):
        for username, spec in users.items():
            say(f"user {username}: {verify_file_realm_user(settings, username, spec)}")
        return
    try:
        for name, body in settings.load("roles").items():
            say(f"role {name}: {put_role(es, name, body)}")
        for username, spec in users.items():
            result = put_user(es, settings, username, spec)
            say(f"user {username}: {result} (password in {settings.secrets_dir}/{username}.env)")
    except ApiError as err:
        raise SetupError(
            f"the security API failed ({err}); an Elasticsearch without the security index "
            "(the native zip) needs `python -m setup file-realm` before it starts"
        ) from err


# --- Kibana (compose only: Kibana does not run natively) ----------------------------------------


def saved_objects_ndjson(kibana_dir: Path) -> str:
    """Every saved object to import: the kibana/*.ndjson files in name order, so the data view
    (data-view.ndjson) comes before the objects that refer to it."""
    files = sorted(kibana_dir.glob("*.ndjson"))
    if not files:
        raise SetupError(f"no saved objects (*.ndjson) in {kibana_dir}")
    return "".join(path.read_text().rstrip("\n") + "\n" for path in files)


def kibana_session(settings: Settings) -> requests.Session:
    session = requests.Session()
    if settings.elastic_password:
        session.auth = ("elastic", settings.elastic_password)
    # Kibana refuses state-changing API calls without this header (CSRF protection).
    session.headers["kbn-xsrf"] = "trackstack-setup"
    return session


def wait_for_kibana(session: requests.Session, settings: Settings) -> None:
    """Block until Kibana's core (its Elasticsearch connection and saved objects) is available.
    The overall level also counts plugins, and offline some stay "degraded" for good."""

    def available() -> bool:
        answer = session.get(f"{settings.kibana_url}/api/status", timeout=10)
        if answer.status_code == 401:
            raise SetupError(
                f"Kibana at {settings.kibana_url} refused the elastic credentials; "
                f"check {settings.secrets_dir / 'elastic.env'}"
            )
        core = answer.json()["status"]["core"]
        levels = {name: core[name]["level"] for name in ("elasticsearch", "savedObjects")}
        if set(levels.values()) != {"available"}:
            raise ValueError(f"core status {levels}")
        return True

    try:
        poll_until(
            available,
            settings.timeout,
            "its core to be available",
            KIBANA_POLL_S,
            (requests.RequestException, ValueError, KeyError),
        )
    except PollTimeout as exc:
        raise SetupError(f"Kibana at {settings.kibana_url} not available: {exc}") from exc


def import_saved_objects(session: requests.Session, settings: Settings) -> int:
    """Import kibana/*.ndjson with overwrite (so a re-run restores them); the count imported."""
    answer = session.post(
        f"{settings.kibana_url}/api/saved_objects/_import",
        params={"overwrite": "true"},
        files={"file": ("trackstack.ndjson", saved_objects_ndjson(settings.kibana_dir))},
        timeout=60,
    )
    try:
        body = answer.json()
    except ValueError:
        body = {"error": answer.text[:500]}
    if answer.status_code != 200 or not body.get("success"):
        raise SetupError(f"saved objects import failed ({answer.status_code}): {body}")
    return int(body["successCount"])


def run_kibana(settings: Settings) -> None:
    session = kibana_session(settings)
    wait_for_kibana(session, settings)
    count = import_saved_objects(session, settings)
    say(f"Kibana at {settings.kibana_url}: {count} saved objects imported (overwrite)")
    answer = session.post(
        f"{settings.kibana_url}/api/data_views/default",
        json={"data_view_id": DATA_VIEW_ID, "force": True},
        timeout=30,
    )
    if answer.status_code != 200:
        raise SetupError(
            f"setting the default data view failed ({answer.status_code}): {answer.text[:500]}"
        )
    say(f"default data view: {DATA_VIEW_ID}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("secrets", help="only generate the missing secrets in SECRETS_DIR")
    file_realm = commands.add_parser("file-realm", help="write roles.yml, users, users_roles")
    file_realm.add_argument("es_config_dir", type=Path, help="the node's config directory")
    commands.add_parser("kibana", help="import kibana/*.ndjson into Kibana (compose)")
    args = parser.parse_args(argv)

    settings = Settings.from_env(dict(os.environ))
    try:
        if args.command == "secrets":
            ensure_secrets(settings)
        elif args.command == "file-realm":
            write_file_realm(settings, args.es_config_dir)
        elif args.command == "kibana":
            run_kibana(settings)
        else:
            run(settings)
    except SetupError as err:
        print(f"setup: error: {err}", file=sys.stderr)
        return 1
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
