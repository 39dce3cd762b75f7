"""The speed-ups in the line path give exactly what the reference paths give.

``ecs._dump`` writes a line with orjson when orjson's bytes equal ``json``'s (``ecs._encode``,
ensure_ascii, compact separators); ``Redactor.text`` skips its pattern when an ASCII text
holds none of the words the pattern needs. Each case compares against the reference.
"""

from __future__ import annotations

import datetime
import enum
import logging
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from gunicorn.config import Config as GunicornConfig

from tests.helpers import captured_lines
from trackstack import Settings, ecs, ids
from trackstack.context import RequestScope
from trackstack.gunicorn import JsonLogger
from trackstack.redact import Redactor
from trackstack.tracecontext import TraceContext


class Colour(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("GET /api/health 200", id="ascii"),
        pytest.param('quote " backslash \\ slash /', id="escapes"),
        pytest.param("tab\tnew\nline\r\x00\x1f\x08\x0c", id="controls"),
        pytest.param("del\x7f", id="del"),
        pytest.param("café ☕ 😀", id="non-ascii"),
        pytest.param("\ud800", id="lone-surrogate"),
        pytest.param(2**63, id="int-64-bit"),
        pytest.param(2**64, id="int-beyond-64-bit"),
        pytest.param(-(2**70), id="int-negative-huge"),
        pytest.param(True, id="bool"),
        pytest.param(None, id="null"),
        pytest.param(1e-07, id="float-small"),
        pytest.param(1e16, id="float-large"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="infinity"),
        pytest.param(Colour.RED, id="enum"),
        pytest.param(Level.HIGH, id="int-enum"),
        pytest.param(Name("sub"), id="str-subclass"),
        pytest.param(datetime.datetime(2026, 11, 30, 1, 2, 3), id="datetime"),
        pytest.param(uuid.UUID(int=7), id="uuid"),
        pytest.param([1, "a", None], id="list"),
        pytest.param({"a": {"b": 1}}, id="dict"),
        pytest.param({1, 2}, id="set"),
        pytest.param(b"bytes", id="bytes"),
    ],
)
def test_dump_writes_what_the_stdlib_encoder_writes(value: Any) -> None:
    """A line with this value is byte for byte the reference line (or its JSON-safe form)."""
    doc = {"message": "m", "key": value, "n": 1}
    try:
        expected = ecs._encode(dict(doc))
    except (ValueError, TypeError, RecursionError):
        expected = ecs._encode({k: ecs._json_safe(v) for k, v in doc.items()})
    assert ecs._dump(dict(doc)) == expected


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("ünïcode", id="non-ascii-key"),
        pytest.param("del\x7f", id="del-key"),
        pytest.param('q"uote', id="quote-key"),
    ],
)
def test_dump_keys_as_the_stdlib_encoder(key: str) -> None:
    """Keys are escaped as the reference escapes them."""
    assert ecs._dump({key: "v"}) == ecs._encode({key: "v"})


REDACTOR = Redactor(["my-key", "x_y"])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("GET /api/health 200", id="no-secret"),
        pytest.param("Authorization: Bearer abc.def", id="authorization"),
        pytest.param("bearer abc", id="bearer-alone"),
        pytest.param("BASIC dXNlcjpwYXNz", id="basic-upper"),
        pytest.param("api-key=1 apikey=2 API_KEY: 3", id="api-key-spellings"),
        pytest.param("client_secret=s3", id="secret-inside-word"),
        pytest.param('{"password": "hunter2"}', id="json-pair"),
        pytest.param("pass_word=1", id="near-miss"),
        pytest.param("my_key=3 my-key=4 mykey=5", id="extra-key-spellings"),
        pytest.param("X-Y: 5", id="extra-key-dash"),
        pytest.param("pa\u017f\u017fword=1", id="long-s-non-ascii"),
        pytest.param("\u212aey token=1", id="kelvin-sign"),
        pytest.param("", id="empty"),
    ],
)
def test_redactor_text_same_as_the_pattern(text: str) -> None:
    """The text is masked exactly as the full pattern masks it."""
    assert REDACTOR.text(text) == REDACTOR._in_text.sub(REDACTOR._mask_match, text)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(bytes(16), id="all-zero"),
        pytest.param(b"\xff" * 16, id="all-ones"),
        pytest.param(bytes(range(16)), id="counting"),
        pytest.param(bytes(range(240, 256)), id="counting-high"),
        *(
            pytest.param(bytes([16 * high + 5] * 16), id=f"variant-nibble-{high:x}")
            for high in range(16)
        ),
    ],
)
def test_uuid4_text_is_the_uuid_modules_text(raw: bytes) -> None:
    """The ID text is str(uuid.UUID(bytes=raw, version=4)): version 4, RFC variant."""
    assert ids.uuid4_text(raw) == str(uuid.UUID(bytes=raw, version=4))


def test_new_id_is_a_random_uuid4() -> None:
    """new_id() parses as a version-4 RFC 4122 UUID, in its canonical text, and differs."""
    made = {ids.new_id() for _ in range(1000)}
    assert len(made) == 1000
    for text in made:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


class _ReferenceLogger(logging.Logger):
    """A Logger class with its own makeRecord: JsonLogger then takes Logger.info's path."""

    def makeRecord(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        return super().makeRecord(*args, **kwargs)


class _Response:
    status = "200 OK"
    sent = 83

    def __init__(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.status_code = status
        self.headers = headers


def _drop_all(record: logging.LogRecord) -> bool:
    return False


def _add_label(record: logging.LogRecord) -> bool:
    record.__dict__["labels.filtered"] = "yes"
    return True


_ENVIRON = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/api/health",
    "QUERY_STRING": "",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "HTTP_USER_AGENT": "wrk",
    "trackstack.tracking_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
}
# Two lines differ only in these: the time and the per-line counter.
_VARYING = re.compile(r'"(@timestamp|event\.id)":"[^"]*"')
_TRACE = TraceContext("0123456789abcdef0123456789abcdef", "0123456789abcdef")


def _scope_with_user() -> RequestScope:
    scope = RequestScope("0f8fad5b-d9cb-469f-a165-70867728950e", trace=_TRACE)
    scope.user_id = "ada"
    return scope


# Settings, access logger tweak, request ((status, environ changes) or "protocol-error"),
# lines expected.
ACCESS_CASES = [
    pytest.param({}, None, (200, {}), 1, id="health-200"),
    pytest.param(
        {},
        None,
        (404, {"PATH_INFO": "/caf\u00e9", "QUERY_STRING": "a=1"}),
        1,
        id="404-non-ascii-path",
    ),
    pytest.param({}, None, (200, {"QUERY_STRING": "token=abc&page=2"}), 1, id="secret-in-query"),
    pytest.param({}, None, (500, {"trackstack.scope": "user+trace"}), 1, id="500-user-and-trace"),
    pytest.param({}, None, "protocol-error", 1, id="protocol-error"),
    pytest.param(
        {"log_levels": (("gunicorn.access", "WARNING"),)},
        None,
        (200, {}),
        0,
        id="log-levels-access-warning",
    ),
    pytest.param({"log_level": "WARNING"}, None, (200, {}), 0, id="log-level-warning"),
    pytest.param(
        {"log_level": "WARNING", "log_levels": (("gunicorn.access", "INFO"),)},
        None,
        (200, {}),
        1,
        id="log-level-warning-access-info",
    ),
    pytest.param(
        {"log_level": "WARNING", "log_levels": (("gunicorn", "INFO"),)},
        None,
        (200, {}),
        1,
        id="log-levels-parent-info",
    ),
    pytest.param({}, "level-error", (200, {}), 0, id="access-logger-level-error"),
    pytest.param({}, "disabled", (200, {}), 0, id="access-logger-disabled"),
    pytest.param({}, "filter-drops", (200, {}), 0, id="access-logger-filter-drops"),
    pytest.param({}, "filter-adds", (200, {}), 1, id="access-logger-filter-adds-field"),
    pytest.param(
        {"debug_on_failure": True},
        None,
        (500, {"trackstack.scope": "user+trace"}),
        1,
        id="debug-on-failure-500",
    ),
]


@pytest.mark.parametrize(("overrides", "tweak", "request_", "expected"), ACCESS_CASES)
def test_access_line_same_as_through_logger_info(
    tmp_path: Path, overrides: dict[str, Any], tweak: str | None, request_: Any, expected: int
) -> None:
    """The access line JsonLogger builds is the one Logger.info builds (or neither writes)."""
    settings = Settings(service_name="lib-test", **overrides)

    class Logger(JsonLogger):
        settings_factory = staticmethod(lambda: settings)

    access = logging.getLogger("gunicorn.access")
    saved = (access.level, access.disabled, list(access.filters), access.__class__)
    try:
        config = GunicornConfig()
        config.set("accesslog", "-")
        gunicorn_logger = Logger(config)
        with captured_lines(tmp_path / "out.ndjson", settings) as read:
            if tweak == "level-error":
                access.setLevel(logging.ERROR)
            elif tweak == "disabled":
                access.disabled = True
            elif tweak == "filter-drops":
                access.addFilter(_drop_all)
            elif tweak == "filter-adds":
                access.addFilter(_add_label)
            written = []
            for logger_class in (saved[3], _ReferenceLogger):
                access.__class__ = logger_class
                if request_ == "protocol-error":
                    gunicorn_logger.protocol_error_access(400, "10.0.0.1", 57)
                else:
                    status, changes = request_
                    environ = _ENVIRON | changes
                    if environ.get("trackstack.scope") == "user+trace":
                        environ["trackstack.scope"] = _scope_with_user()
                    headers = [("X-Tracking-ID", "0f8fad5b-d9cb-469f-a165-70867728950e")]
                    gunicorn_logger.access(
                        _Response(status, headers), None, environ, timedelta(microseconds=1234)
                    )
                read()  # flushes the writer
                text = _VARYING.sub(r'"\1":"-"', (tmp_path / "out.ndjson").read_text())
                written.append(text.splitlines()[sum(map(len, written)) :])
    finally:
        access.setLevel(saved[0])
        access.disabled = saved[1]
        access.filters[:] = saved[2]
        access.__class__ = saved[3]
    fast, reference = written
    assert fast == reference
    assert len(fast) == expected
