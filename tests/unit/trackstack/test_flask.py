"""Tests for trackstack/flask.py on a plain Flask app (not the demo): what init_app wires, and
what envelope_errors=False leaves to the app."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from flask import Flask, request
from werkzeug.test import EnvironBuilder, run_wsgi_app

from trackstack import Settings, current_tracking_id
from trackstack.errors import IncompleteBody
from trackstack.flask import Tracking, settings_of
from trackstack.wsgi import CheckedInput


def _app(settings: Settings, **options: Any) -> Flask:
    app = Flask(__name__)
    tracking = Tracking(**options)
    tracking.init_app(app, settings)

    @app.get("/id")
    def show_id() -> dict[str, Any]:
        logging.getLogger("app").info("in the handler")
        return {"tracking_id": current_tracking_id()}

    @app.post("/echo")
    def echo() -> bytes:
        return request.get_data()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    return app


def test_init_app_wires_the_middleware_and_the_settings(lib_settings: Settings, lines: Any) -> None:
    """The ID is current in handlers and on the response; the extension keeps the settings."""
    app = _app(lib_settings)
    response = app.test_client().get("/id", headers={"X-Correlation-ID": "corr-7"})
    assert response.get_json() == {"tracking_id": "corr-7"}
    assert response.headers["X-Tracking-ID"] == "corr-7" and response.headers["X-DateTime"]
    assert settings_of(app) is lib_settings
    assert [line["tracking_id"] for line in lines() if line["message"] == "in the handler"] == [
        "corr-7"
    ]


@pytest.mark.parametrize(
    ("envelope_errors", "path", "json_body"),
    [
        pytest.param(True, "/nowhere", True, id="envelope-404"),
        pytest.param(True, "/boom", True, id="envelope-500"),
        pytest.param(False, "/nowhere", False, id="own-404"),
        pytest.param(False, "/boom", False, id="own-500"),
    ],
)
def test_envelope_errors_are_optional(
    lib_settings: Settings, lines: Any, envelope_errors: bool, path: str, json_body: bool
) -> None:
    """envelope_errors=True: JSON envelopes; False: the app's own error pages. The tracking
    header is on the response either way."""
    app = _app(lib_settings, envelope_errors=envelope_errors)
    response = app.test_client().get(path)
    assert response.headers["X-Tracking-ID"]
    assert response.is_json is json_body
    if json_body:
        assert response.get_json()["tracking_id"] == response.headers["X-Tracking-ID"]


def test_a_body_shorter_than_its_length_is_a_400_with_a_warning(
    lib_settings: Settings, lines: Any
) -> None:
    """Content-Length says 100, 10 bytes came: 400 envelope, WARNING, no ERROR."""
    app = _app(lib_settings)
    environ = EnvironBuilder(path="/echo", method="POST").get_environ()
    environ |= {
        "CONTENT_LENGTH": "100",
        "wsgi.input": io.BytesIO(b"0123456789"),
        "wsgi.input_terminated": True,  # as gunicorn sets it: werkzeug trusts the stream
    }
    body, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("400") and json.loads(b"".join(body))["code"] == 400
    levels = [line["log"]["level"] for line in lines()]
    assert "warning" in levels and "error" not in levels


@pytest.mark.parametrize(
    ("body", "length", "reads"),
    [
        pytest.param(b"abc", 3, [b"abc"], id="whole"),
        pytest.param(b"ab", 3, IncompleteBody, id="short"),
        pytest.param(b"a\nb\n", 4, [b"a\n", b"b\n"], id="lines"),
    ],
)
def test_checked_input(body: bytes, length: int, reads: Any) -> None:
    """CheckedInput passes a whole body through and raises IncompleteBody on a short one."""
    stream = CheckedInput(io.BytesIO(body), length)
    if reads is IncompleteBody:
        with pytest.raises(IncompleteBody):
            stream.read()
    elif len(reads) == 1:
        assert stream.read() == reads[0] and stream.read() == b""
    else:
        assert list(stream) == reads
