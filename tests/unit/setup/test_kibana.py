"""`python -m setup kibana` against a stand-in Kibana, and the secrets
Kibana needs. Kibana itself cannot run here; the stand-in answers the three APIs the way
Kibana 9 documents them and records what it was sent."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from setup import __main__ as setup
from setup.project import REPO

PASSWORD = "pw-for-the-stand-in"


@dataclass
class FakeKibana:
    """What the stand-in answers, and what it was sent."""

    url: str = ""
    unavailable_answers: int = 1  # /api/status says "unavailable" this many times first
    import_result: dict[str, Any] | None = None  # None: success for every object sent
    requests: list[dict[str, Any]] = field(default_factory=list)

    def sent(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]


def multipart_files(content_type: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    """{form field: (filename, content)} of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    files = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        files[str(name)] = (str(part.get_filename()), part.get_payload(decode=True))
    return files


def handler_for(fake: FakeKibana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest's output clean
            pass

        def answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def record(self) -> dict[str, Any] | None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length", 0))
            entry = {
                "method": self.command,
                "path": url.path,
                "query": parse_qs(url.query),
                "headers": dict(self.headers),
                "body": self.rfile.read(length),
            }
            fake.requests.append(entry)
            expected = "Basic " + base64.b64encode(f"elastic:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.answer(401, {"statusCode": 401, "error": "Unauthorized"})
                return None
            return entry

        def do_GET(self) -> None:
            if not self.record():
                return
            level = "available"
            if fake.unavailable_answers > 0:
                fake.unavailable_answers -= 1
                level = "unavailable"
            core = {"elasticsearch": {"level": "available"}, "savedObjects": {"level": level}}
            status = {"overall": {"level": "degraded"}, "core": core, "plugins": {}}
            self.answer(200 if level == "available" else 503, {"status": status})

        def do_POST(self) -> None:
            entry = self.record()
            if not entry:
                return
            if self.headers.get("kbn-xsrf") is None:
                self.answer(400, {"message": "Request must contain a kbn-xsrf header."})
            elif entry["path"] == "/api/saved_objects/_import":
                files = multipart_files(self.headers["Content-Type"], entry["body"])
                entry["files"] = files
                lines = files["file"][1].decode().splitlines()
                self.answer(
                    200, fake.import_result or {"success": True, "successCount": len(lines)}
                )
            elif entry["path"] == "/api/data_views/default":
                self.answer(200, {"acknowledged": True})
            else:
                self.answer(404, {"message": "not found"})

    return Handler


@pytest.fixture
def fake_kibana(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKibana]:
    monkeypatch.setattr(setup, "KIBANA_POLL_S", 0.05)
    fake = FakeKibana()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def run_setup_kibana(fake: FakeKibana, tmp_path: Path, password: str = PASSWORD) -> int:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(exist_ok=True)
    (secrets_dir / "elastic.env").write_text(f"ELASTIC_PASSWORD={password}\n")
    env = {"SECRETS_DIR": str(secrets_dir), "KIBANA_URL": fake.url, "SETUP_TIMEOUT": "10"}
    settings = setup.Settings.from_env(env)
    try:
        setup.run_kibana(settings)
    except setup.SetupError as err:
        print(f"setup: error: {err}")
        return 1
    return 0


def test_imports_every_saved_object_with_overwrite(fake_kibana: FakeKibana, tmp_path: Path) -> None:
    """After Kibana's core is up, kibana/*.ndjson goes to the import API in one file, with
    overwrite, the xsrf header and elastic's credentials."""
    assert run_setup_kibana(fake_kibana, tmp_path) == 0

    assert len(fake_kibana.sent("/api/status")) == 2  # waited through one "unavailable"
    (upload,) = fake_kibana.sent("/api/saved_objects/_import")
    assert upload["query"] == {"overwrite": ["true"]}
    filename, content = upload["files"]["file"]
    assert filename.endswith(".ndjson")
    expected = "".join(p.read_text() for p in sorted((REPO / "kibana").glob("*.ndjson")))
    assert content.decode() == expected
    first = json.loads(content.decode().splitlines()[0])
    assert (first["type"], first["id"]) == ("index-pattern", "trackstack-logs")


def test_makes_trackstack_logs_the_default_data_view(
    fake_kibana: FakeKibana, tmp_path: Path
) -> None:
    """Discover opens on trackstack-logs: the default data view is set, overriding any other."""
    assert run_setup_kibana(fake_kibana, tmp_path) == 0
    (request,) = fake_kibana.sent("/api/data_views/default")
    assert json.loads(request["body"]) == {"data_view_id": "trackstack-logs", "force": True}


def test_a_rejected_import_fails_with_kibanas_errors(
    fake_kibana: FakeKibana, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """success: false is an error that names what Kibana refused; no default is set then."""
    fake_kibana.import_result = {
        "success": False,
        "successCount": 0,
        "errors": [{"id": "trackstack-overview", "error": {"type": "missing_references"}}],
    }
    assert run_setup_kibana(fake_kibana, tmp_path) == 1
    assert "missing_references" in capsys.readouterr().out
    assert not fake_kibana.sent("/api/data_views/default")


def test_wrong_password_fails_at_once(
    fake_kibana: FakeKibana, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 401 is reported on the first answer, pointing at elastic.env, not after the timeout."""
    assert run_setup_kibana(fake_kibana, tmp_path, password="stale") == 1
    assert len(fake_kibana.requests) == 1
    assert "elastic.env" in capsys.readouterr().out


def test_secrets_include_kibanas_keys_and_the_debug_token(tmp_path: Path) -> None:
    """`setup secrets` also makes kibana.env (three keys of 32+ characters) and service.env,
    and keeps a DEBUG_LOG_TOKEN the native stack already generated."""
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "service.env").write_text("DEBUG_LOG_TOKEN=from-native\n")
    settings = setup.Settings.from_env({"SECRETS_DIR": str(secrets_dir)})
    setup.ensure_secrets(settings)

    keys = setup.read_env_file(secrets_dir / "kibana.env")
    assert set(keys) == {
        "KIBANA_SECURITY_ENCRYPTION_KEY",
        "KIBANA_SAVED_OBJECTS_ENCRYPTION_KEY",
        "KIBANA_REPORTING_ENCRYPTION_KEY",
    }
    assert all(len(value) >= 32 for value in keys.values())
    assert len(set(keys.values())) == 3
    assert setup.read_env_file(secrets_dir / "service.env") == {"DEBUG_LOG_TOKEN": "from-native"}
