"""Tests for trackstack/ecs.py: every record gives one bounded JSON line that Filebeat can
expand (tests/filebeat.py mirrors its rules), keeping every value somewhere documented."""

from __future__ import annotations

import json
import logging
import math
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.filebeat import ExpandError, ship
from trackstack.ecs import Datasets, EcsFormatter, bounded_json, event_ids

LIMIT = 4096


def _record(
    extra: dict[Any, Any], msg: str = "hello %s", args: tuple[Any, ...] = ("world",)
) -> logging.LogRecord:
    record = logging.LogRecord("app.handlers", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def _format(extra: dict[Any, Any], exc: bool = False, **record_kw: Any) -> str:
    record = _record(extra, **record_kw)
    if exc:
        try:
            raise RuntimeError("upstream said no")
        except RuntimeError:
            record.exc_info = sys.exc_info()
    return EcsFormatter("svc", max_line_bytes=LIMIT).format(record)


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


cyclic: list[Any] = []
cyclic.append(cyclic)

# (extra, exception?, where each value must end up) -- the classes of record seen in issue 11
COLLISIONS = [
    pytest.param(
        {"error": "upstream timeout"},
        True,
        {"labels.error": "upstream timeout"},
        id="error-with-exception",
    ),
    pytest.param(
        {"error": "upstream timeout"},
        False,
        {"labels.error": "upstream timeout"},
        id="error-scalar-is-ecs-object",
    ),
    pytest.param({"user": "someone"}, False, {"labels.user": "someone"}, id="user-scalar"),
    pytest.param(
        {"user": {"name": "ada", "id": 7}},
        False,
        {"user.name": "ada", "user.id": 7},
        id="user-dict-flattened",
    ),
    pytest.param(
        {"order": 1, "order.id": "o-1"},
        False,
        {"labels.order": 1, "order.id": "o-1"},
        id="value-and-prefix",
    ),
    pytest.param(
        {"a.b": 1, "a": {"b": 2}}, False, {"a.b": 1, "labels.a_b": 2}, id="two-spellings-one-key"
    ),
    pytest.param({"log.offset": 5}, False, {"labels.log_offset": 5}, id="pipeline-log-offset"),
    pytest.param(
        {"host": {"ip": "1.2.3.4"}}, False, {"host.ip": "1.2.3.4"}, id="host-object-merges"
    ),
    pytest.param({"host.name": "me"}, False, {"labels.host_name": "me"}, id="pipeline-host-name"),
    pytest.param({"stream": "x"}, False, {"labels.stream": "x"}, id="container-stream"),
    pytest.param({"agent.name": "a"}, False, {"labels.agent_name": "a"}, id="pipeline-agent"),
    pytest.param({"type": 5}, False, {"labels.type": 5}, id="filebeat-type"),
    pytest.param(
        {"@metadata": {"_id": "x"}}, False, {"labels.@metadata__id": "x"}, id="filebeat-metadata"
    ),
    pytest.param(
        {"@timestamp": "yesterday"}, False, {"labels.@timestamp": "yesterday"}, id="own-timestamp"
    ),
    pytest.param({"log.level": "nope"}, False, {"labels.log_level": "nope"}, id="own-level"),
    pytest.param({"message.extra": 1}, False, {"labels.message_extra": 1}, id="under-own-message"),
    pytest.param(
        {"tracking_id": "t-1", "tracking_id.x": 1},
        False,
        {"tracking_id": "t-1", "labels.tracking_id_x": 1},
        id="context-field-never-moves",
    ),
    pytest.param(
        {"error.message": "mine"},
        True,
        {"labels.error_message": "mine", "error.message": "upstream said no"},
        id="own-error-fields",
    ),
    pytest.param({"_id": "x"}, False, {"labels.key_id": "x"}, id="es-metadata-name"),
    pytest.param(
        {"a..b": 1, ".c": 2, "d.": 3},
        False,
        {"labels.a__b": 1, "labels.key_c": 2, "labels.d_": 3},
        id="empty-key-parts",
    ),
    pytest.param({"": 1}, False, {"labels.key": 1}, id="empty-key"),
    pytest.param(
        {"labels.error": "x", "error": "y"},
        False,
        {"labels.error": "x", "labels.error_2": "y"},
        id="label-name-taken",
    ),
    pytest.param(
        {"span.id": "00f067aa0ba902b7", "span": "x"},
        False,
        {"span.id": "00f067aa0ba902b7", "labels.span": "x"},
        id="span-scalar",
    ),
    pytest.param({"tags": ["a", "b"]}, False, {"tags": ["a", "b"]}, id="ecs-tags-list-stays"),
    pytest.param(
        {"n": float("nan"), "i": float("inf")}, False, {"n": "NaN", "i": "inf"}, id="nan-infinity"
    ),
    pytest.param(
        {"obj": object.__new__(Unprintable)},
        False,
        {"obj": "<unrepresentable Unprintable>"},
        id="repr-raises",
    ),
    pytest.param({"cycle": cyclic}, False, {"cycle": "[[...]]"}, id="cyclic-list"),
    pytest.param({"s": {1}}, False, {"s": "{1}"}, id="set"),
    pytest.param({"b": b"\xff\x00"}, False, {"b": "b'\\xff\\x00'"}, id="bytes"),
    pytest.param({1: "int-key"}, False, {"1": "int-key"}, id="int-key"),
    pytest.param(
        {"d": {(1, 2): "tuple-key"}}, False, {"d.(1, 2)": "tuple-key"}, id="tuple-key-in-dict"
    ),
    pytest.param({"empty": {}}, False, {"empty": {}}, id="empty-dict"),
]


@pytest.mark.parametrize(("extra", "exc", "expected"), COLLISIONS)
def test_colliding_and_odd_fields_are_kept_under_documented_names(
    extra: dict[Any, Any], exc: bool, expected: dict[str, Any]
) -> None:
    """Each value lands where the module docstring says, and Filebeat accepts the line."""
    line = _format(extra, exc=exc)
    ship(line)
    written = json.loads(line)
    for key, value in expected.items():
        assert written.get(key) == value, (key, written)


def test_message_arguments_that_do_not_match_still_give_a_line() -> None:
    """A format string and arguments that do not match: a line naming the problem."""
    line = _format({}, msg="%d items", args=("x",))
    assert "message not formatted: TypeError" in json.loads(line)["message"]
    ship(line)


def test_datasets_use_the_configured_prefix() -> None:
    """event.dataset is <prefix>.access / .server / .app by logger name."""
    datasets = Datasets("shop")
    assert [datasets(n) for n in ("gunicorn.access", "uvicorn.access", "trackstack.access")] == [
        "shop.access"
    ] * 3
    assert [datasets(n) for n in ("gunicorn.error", "uvicorn.error", "uvicorn")] == [
        "shop.server"
    ] * 3
    assert datasets("app.handlers") == datasets("some.access") == "shop.app"


def test_event_ids_are_unique() -> None:
    """event.id never repeats in a process."""
    assert len({event_ids.next() for _ in range(10_000)}) == 10_000


keys = st.one_of(
    st.sampled_from(
        [
            "error",
            "error.message",
            "user",
            "user.name",
            "log",
            "log.offset",
            "host",
            "host.name",
            "stream",
            "type",
            "@metadata",
            "@timestamp",
            "message",
            "labels",
            "labels.error",
            "tracking_id",
            "trace.id",
            "span",
            "a",
            "a.b",
            "a.b.c",
            "_id",
            "event.duration",
        ]
    ),
    st.text(alphabet="ab._@ ", min_size=0, max_size=8),
    st.text(max_size=20),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3000),
    st.binary(max_size=50),
    st.lists(st.text(max_size=20), max_size=4),
)
values = st.recursive(leaves, lambda inner: st.dictionaries(keys, inner, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extra=st.dictionaries(keys, values, max_size=10), exc=st.booleans())
def test_any_extra_gives_one_bounded_expandable_line(extra: dict[str, Any], exc: bool) -> None:
    """Random extra dicts: one JSON object per line, within the bound, with its tracking ID,
    that Filebeat's expand_keys and overwrite rules accept."""
    extra = {
        k: v
        for k, v in extra.items()
        if k not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__
        and k not in ("message", "asctime")
    }
    extra["tracking_id"] = "prop-1"
    line = _format(extra, exc=exc)
    assert "\n" not in line and len(line.encode()) <= LIMIT - 1
    try:
        ship(line)
    except ExpandError as err:
        pytest.fail(f"{err}: {line[:500]}")
    assert json.loads(line)["tracking_id"] == "prop-1"


@settings(max_examples=100, deadline=None)
@given(
    extra=st.dictionaries(
        st.sampled_from(["a", "a.b", "b", "user", "user.id"]),
        st.text(min_size=1, max_size=5),
        max_size=5,
    )
)
def test_no_value_is_dropped(extra: dict[str, str]) -> None:
    """Every value given is somewhere on the line (moved or not)."""
    written = json.loads(_format(extra))
    for value in extra.values():
        assert value in written.values()


def test_bounded_json_cuts_the_longest_string() -> None:
    """The bound holds on the escaped form and keeps both ends of a long string."""
    doc = {"message": "A" + "\u4e2d\x01" * 5000 + "Z", "event.id": "1"}
    line = bounded_json(doc, LIMIT - 1)
    assert len(line.encode()) <= LIMIT - 1 and line.isascii()
    message = json.loads(line)["message"]
    assert message.startswith("A") and message.endswith("Z")


def test_nan_is_never_written_as_a_bare_token() -> None:
    """Go's JSON decoder (Filebeat) refuses NaN and Infinity: they are written as text."""
    line = _format({"ratio": math.nan, "big": [math.inf]})
    assert "NaN," not in line.replace('"NaN"', "") and "Infinity" not in line.replace('"[inf]"', "")
    ship(line)


def test_uvicorns_colour_copy_of_the_message_is_not_a_field() -> None:
    """uvicorn's ``color_message`` extra (ANSI codes for its console) never reaches a line."""
    line = json.loads(_format({"color_message": "Started server process [\x1b[36m%d\x1b[0m]"}))
    assert not [key for key in line if "color_message" in key], line
