"""The speed-ups in the line path give exactly what the reference paths give.

``ecs._dump`` writes a line with orjson when orjson's bytes equal ``json``'s (``ecs._encode``,
ensure_ascii, compact separators); ``Redactor.text`` skips its pattern when an ASCII text
holds none of the words the pattern needs. Each case compares against the reference.
"""

from __future__ import annotations

import datetime
import enum
import uuid
from typing import Any

import pytest

from trackstack import ecs
from trackstack.redact import Redactor


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
