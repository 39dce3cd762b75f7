"""LogRecord -> one ECS JSON line that Filebeat can always expand and never cuts.

Keys are flat and dotted (``"event.dataset"``); Filebeat's ndjson parser with
``expand_keys: true`` turns them into objects. That expansion fails for the whole line
(libbeat ``jsontransform.expandFields``: "cannot expand ...: found conflicting key") when one
key is a value and also the prefix of another (``error`` next to ``error.message``), and
Filebeat's own fields are overwritten or lost when a line writes them. So the formatter
never writes such a line. Its rule, applied to every field a record brings (``extra=``,
filters), never to the formatter's own:

1. A dict value is flattened into dotted keys: ``{"user": {"name": "a"}}`` -> ``user.name``.
2. A field MOVES to ``labels.<its key with "." replaced by "_">`` (then ``_2``, ``_3``... if
   that is taken) when it would collide:

   * it is one of the formatter's own keys (``@timestamp``, ``log.level``, ``message``,
     ``ecs.version``, ``service.name``, ``event.dataset``, ``event.id``, ``log.logger``,
     ``process.pid``, and ``error.*`` when the record has an exception);
   * it is a value at the name of an ECS object (``user``, ``error``, ``host``, ``event``...:
     ECS_OBJECTS), where the index and the pipeline expect an object;
   * it is, is under, or is a parent of a field Filebeat adds (PIPELINE_FIELDS: ``host.name``,
     ``agent.*``, ``log.file.path``, ``log.offset``, ``input.type``, ``stream`` ...);
   * its name is one Filebeat or Elasticsearch treat specially (``type``, ``@metadata``,
     anything starting with ``_`` or ``@``) or has an empty or blank part (``a..b``, ``.a``,
     ``a.``, ``" "``), which Elasticsearch refuses;
   * it is a value and the prefix of another field of the line: the value moves, the
     longer key stays (``error`` moves to ``labels.error``, ``error.message`` stays), unless
     the value is the formatter's own or ``tracking_id``/``trace.id``/``span.id``, which
     never move (then the longer key moves);
   * it repeats a key already written (two spellings of one field: ``a.b`` and ``{"a": {"b"}}``).

   A moved value that is not a string, number or bool is written as its JSON text.
3. A value json cannot write (an object, bytes, a set, a cycle, NaN/Infinity, which Go's
   JSON decoder in Filebeat refuses) is written as text: ``repr()`` or its JSON-safe form.
   A ``repr`` that raises gives ``"<unrepresentable TYPE>"``.

Nothing is dropped: a line over the byte bound has its longest strings cut in the middle
(``bounded_json``), and only a line that still cannot fit is replaced by a stand-in that
keeps its identity (timestamp, dataset, tracking ID, trace).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import secrets
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from trackstack.redact import Redactor

TRUNCATED = "…[truncated]…"
ECS_VERSION = "8.11.0"
MOVED_PREFIX = "labels."

# The formatter's own keys: a record cannot overwrite them.
OWN_FIELDS = frozenset(
    {
        "@timestamp",
        "log.level",
        "message",
        "ecs.version",
        "service.name",
        "event.dataset",
        "event.id",
        "log.logger",
        "process.pid",
    }
)
ERROR_FIELDS = frozenset({"error.type", "error.message", "error.stack_trace"})
_OWN_AND_ERROR_FIELDS = OWN_FIELDS | ERROR_FIELDS
# Set per request by trackstack's filter or an adapter; never the one that moves.
CONTEXT_FIELDS = frozenset({"tracking_id", "trace.id", "span.id"})
# Fields Filebeat adds to every event after (or before) parsing the line: filestream's
# file metadata (libbeat readfile.FileMetaReader), the container parser's ``stream`` and
# ``docker.attrs`` (readjson.DockerJSONReader), the input's ``input.type``, the beat's
# builtins (processing.MakeDefaultBeatSupport: ``host.name``, ``agent.*``).
PIPELINE_FIELDS = (
    "log.file.path",
    "log.file.device_id",
    "log.file.inode",
    "log.file.fingerprint",
    "log.offset",
    "log.flags",
    "input.type",
    "host.name",
    "agent.name",
    "agent.type",
    "agent.version",
    "agent.id",
    "agent.ephemeral_id",
    "stream",
    "docker.attrs",
)
# ECS field sets that are objects at the top level (ECS 8.11): a plain value there would
# clash with the object in the index mapping and with the pipeline's fields.
ECS_OBJECTS = frozenset(
    """agent as client cloud container data_stream destination device dll dns ecs email error
    event faas file group host http labels log network observer orchestrator organization
    package process registry related rule server service source span threat tls trace
    transaction url user user_agent vulnerability""".split()
)
# Top-level names Filebeat's ndjson parser treats specially (jsontransform.WriteJSONKeys).
FILEBEAT_SPECIAL = frozenset({"type", "@metadata", "@timestamp"})
_PIPELINE_PREFIXES = frozenset(
    key[:i] for key in PIPELINE_FIELDS for i, ch in enumerate(key) if ch == "."
)

# Attributes every LogRecord has; anything else on a record came from ``extra=`` or a filter.
# ``color_message`` is uvicorn's: the same message with ANSI colour codes for its own
# console formatter (uvicorn.logging.ColourizedFormatter); a JSON line has no use for it.
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class Datasets:
    """``event.dataset`` by logger name: ``<prefix>.access`` for access loggers
    (``gunicorn.access``, ``uvicorn.access``, ``trackstack.access``), ``<prefix>.server`` for
    the servers' own (``gunicorn.*``, ``uvicorn.*``), ``<prefix>.app`` for the rest."""

    def __init__(self, prefix: str = "trackstack") -> None:
        self.app, self.access, self.server = (f"{prefix}.{k}" for k in ("app", "access", "server"))
        self._by_logger: dict[str, str] = {}

    def __call__(self, logger_name: str) -> str:
        dataset = self._by_logger.get(logger_name)
        if dataset is None:
            dataset = self._by_logger[logger_name] = self._choose(logger_name)
        return dataset

    def _choose(self, logger_name: str) -> str:
        if logger_name.endswith(".access") and logger_name.split(".")[0] in (
            "gunicorn",
            "uvicorn",
            "trackstack",
        ):
            return self.access
        if logger_name.startswith(("gunicorn", "uvicorn")):
            return self.server
        return self.app


class _EventIds:
    """Unique, cheap ``event.id`` values: a random per-process prefix and a counter."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}-{next(self._counter):x}"


event_ids = _EventIds()

_verdicts: dict[str, tuple[bool, tuple[str, ...]]] = {}


def _judge(key: str) -> tuple[bool, tuple[str, ...]]:
    """(may this key be written as it is, its dotted parents); cached: keys repeat a lot."""
    verdict = _verdicts.get(key)
    if verdict is not None:
        return verdict
    parts = key.split(".")
    parents = tuple(".".join(parts[:i]) for i in range(1, len(parts)))
    first = parts[0]
    allowed = not (
        key in OWN_FIELDS
        or any(not part.strip() for part in parts)  # Elasticsearch refuses such names
        or first in FILEBEAT_SPECIAL
        or first.startswith(("_", "@"))
        or (len(parts) == 1 and key in ECS_OBJECTS)
        or key in _PIPELINE_PREFIXES
        or any(key == f or key.startswith(f + ".") for f in PIPELINE_FIELDS)
    )
    verdict = (allowed, parents)
    if len(_verdicts) > 4096:  # keys built from data must not grow this without bound
        _verdicts.clear()
    _verdicts[key] = verdict
    return verdict


def _flatten(prefix: str, value: Mapping[Any, Any], out: list[tuple[str, Any]]) -> None:
    if not value:
        out.append((prefix, {}))
        return
    for key, item in value.items():
        name = f"{prefix}.{key}"
        if isinstance(item, Mapping):
            _flatten(name, item, out)
        else:
            out.append((name, item))


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


_encode = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), default=_safe_repr, allow_nan=False
).encode


def _json_safe(value: Any) -> Any:
    """``value`` if json can write it as strict JSON, else a text stand-in."""
    try:
        _encode(value)
        return value
    except (ValueError, TypeError, RecursionError):
        if isinstance(value, float):  # NaN and the infinities: Go's JSON refuses them
            return str(value) if not math.isnan(value) else "NaN"
        return _safe_repr(value)


_orjson_dumps: Callable[[Any], bytes] | None
try:  # optional (trackstack[fast]); only ever used where its bytes equal json's, see _dump
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover - the stdlib path below is the reference
    _orjson_dumps = None

# Values orjson writes byte for byte as _encode does (ASCII text, ints, bools, null). Not
# floats (orjson writes 1e-07 as 1e-7 and NaN as null), nor anything _encode hands to
# default= (orjson writes datetimes, UUIDs, enums and dataclasses itself).
_PLAIN = frozenset({str, int, bool, type(None)})


def _dump(doc: dict[str, Any]) -> str:
    if _orjson_dumps is not None and _PLAIN.issuperset(map(type, doc.values())):
        try:
            raw = _orjson_dumps(doc)  # an int beyond 64 bits raises: then _encode below
        except TypeError:
            pass
        else:
            # Non-ASCII and DEL: ensure_ascii writes them as \uXXXX, orjson as they are.
            if raw.isascii() and b"\x7f" not in raw:
                return raw.decode("ascii")
    try:
        return _encode(doc)
    except (ValueError, TypeError, RecursionError):
        for key, value in doc.items():
            doc[key] = _json_safe(value)
        return _encode(doc)


def _as_label(value: Any) -> Any:
    if isinstance(value, str | int | float | bool):
        return _json_safe(value)
    return _dump({"v": value})[5:-1]


_SCALARS = frozenset({str, int, float, bool})
# (protected keys, the record's field names in iteration order) -> where each one goes, or
# _AS_IS when every one stays. Placement depends only on the names, and the same few shapes
# (the access line, the app's own lines) repeat on every request.
Plan = tuple[tuple[int, str, bool], ...]
_AS_IS: Plan = ((-1, "as is", False),)  # a sentinel, never applied
_plans: dict[tuple[Any, ...], Plan] = {}


def place_fields(
    doc: dict[str, Any],
    fields: Mapping[Any, Any],
    names: Iterable[Any],
    protected: frozenset[str],
) -> None:
    """Add ``fields[name]`` for each of ``names`` to ``doc`` by the module's rule.

    ``protected``: the keys ``doc`` holds now (the formatter's own and its error fields);
    they never move. Mutates ``doc``; None values are skipped. When a dict value is
    flattened, names are taken in ``fields``' order, so of two spellings of one key the
    first one set stays.
    """
    names = tuple(names)
    shape = (protected, names)
    plan = _plans.get(shape)
    if plan is None:
        if any(_is_mapping(fields[name]) for name in names):
            _place_flattened(doc, fields, names, protected)
            return
        keys = [name if type(name) is str else str(name) for name in names]
        plan = _plan(protected, keys)
        if not any(moved for _, _, moved in plan) and keys == list(names):
            plan = _AS_IS
        if len(_plans) > 1024:  # shapes built from data must not grow this without bound
            _plans.clear()
        _plans[shape] = plan
    if plan is _AS_IS:  # the common case: as fast as a plain copy
        for name in names:
            value = fields[name]
            if value is not None:
                if type(value) not in _SCALARS and isinstance(value, Mapping):
                    for written in names:
                        doc.pop(written, None)
                    _place_flattened(doc, fields, names, protected)
                    return
                doc[name] = value
        return
    if any(_is_mapping(fields[name]) for name in names):
        _place_flattened(doc, fields, names, protected)
        return
    for index, target, moved in plan:
        value = fields[names[index]]
        if value is not None:
            doc[target] = _as_label(value) if moved else value


def _is_mapping(value: Any) -> bool:
    return type(value) not in _SCALARS and value is not None and isinstance(value, Mapping)


def _place_flattened(
    doc: dict[str, Any],
    fields: Mapping[Any, Any],
    names: tuple[Any, ...],
    protected: frozenset[str],
) -> None:
    """The general case: dict values flattened into dotted keys, names in ``fields``' order."""
    wanted = set(names)
    keys: list[str] = []
    values: list[Any] = []
    for name, value in fields.items():
        if value is None or name not in wanted:
            continue
        key = name if type(name) is str else str(name)
        if _is_mapping(value):
            flat: list[tuple[str, Any]] = []
            _flatten(key, value, flat)
            for sub_key, sub_value in flat:
                if sub_value is not None:
                    keys.append(sub_key)
                    values.append(sub_value)
            continue
        keys.append(key)
        values.append(value)
    for index, target, moved in _plan(protected, keys):
        doc[target] = _as_label(values[index]) if moved else values[index]


def _plan(protected: frozenset[str], keys: list[str]) -> Plan:
    """Where each of ``keys`` goes: (its index, the key it is written under, moved?)."""
    owner: dict[str, int] = dict.fromkeys(protected, -1)  # key in the line -> field index
    moved: list[tuple[int, str]] = []
    dotted: list[tuple[str, tuple[str, ...]]] = []
    for index, key in enumerate(keys):
        allowed, parents = _judge(key)
        if not allowed or key in owner:  # owner: the protected keys and earlier spellings
            moved.append((index, key))
            continue
        owner[key] = index
        if parents:
            dotted.append((key, parents))
    # A value that is also the prefix of another key: the value moves, unless it is ours.
    for key, parents in dotted:
        for parent in parents:
            if key not in owner:
                break
            if parent in owner:
                if owner[parent] < 0 or parent in CONTEXT_FIELDS:
                    moved.append((owner.pop(key), key))
                else:
                    moved.append((owner.pop(parent), parent))
    placed = [(index, key, False) for key, index in owner.items() if index >= 0]
    for index, key in moved:
        label = _free_label(owner, key)
        owner[label] = index
        placed.append((index, label, True))
    return tuple(placed)


def _free_label(doc: dict[str, Any], key: str) -> str:
    """``labels.<key with "." as "_">``, or with ``_2``, ``_3``... if taken in ``doc``."""
    name = key.replace(".", "_")
    base = MOVED_PREFIX + (name if name.strip() and not name.startswith("_") else "key" + name)
    candidate, n = base, 1
    while candidate in doc or any(k.startswith(candidate + ".") for k in doc):
        n += 1
        candidate = f"{base}_{n}"
    return candidate


class EcsFormatter(logging.Formatter):
    """LogRecord -> one ECS JSON object of at most ``max_line_bytes - 1`` bytes (plus the
    newline the writer adds), with secrets redacted from message and error text.

    Hand-written rather than ecs-logging's StdlibFormatter: `make bench` measures both on the
    same access record, and the access line is written for every request. Field names
    follow ECS, as ecs-logging's do. The collision rule is in the module docstring.
    """

    def __init__(
        self,
        service_name: str,
        redactor: Redactor | None = None,
        max_line_bytes: int = 4096,
        datasets: Datasets | None = None,
    ) -> None:
        super().__init__()
        self.service_name = service_name
        self.redactor = redactor or Redactor()
        self.max_line_bytes = max_line_bytes
        self.datasets = datasets or Datasets()
        self._second = -1
        self._second_text = ""

    def _timestamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # strftime once per second, not once per line
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int((created - second) * 1000):03d}Z"

    @staticmethod
    def _message(record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception as exc:  # a format string and arguments that do not match
            message = f"{_safe_repr(record.msg)} (message not formatted: {type(exc).__name__})"
        return message if type(message) is str else _safe_repr(message)

    def format_to_ecs(self, record: logging.LogRecord) -> dict[str, Any]:
        """The record as ECS fields with dotted keys ("event.dataset"); building nested
        dicts here per line would be wasted work: Filebeat expands them."""
        doc: dict[str, Any] = {
            "@timestamp": self._timestamp(record.created),
            "log.level": record.levelname.lower(),
            "message": self.redactor.text(self._message(record)),
            "ecs.version": ECS_VERSION,
            "service.name": self.service_name,
            "event.dataset": self.datasets(record.name),
            "event.id": event_ids.next(),
            "log.logger": record.name,
            "process.pid": record.process,
        }
        protected = OWN_FIELDS
        if record.exc_info and record.exc_info[1] is not None:
            exc_type, exc, tb = record.exc_info
            doc["error.type"] = exc_type.__name__ if exc_type else type(exc).__name__
            doc["error.message"] = self.redactor.text(_text_of(exc))
            doc["error.stack_trace"] = self.redactor.text(
                "".join(traceback.format_exception(exc_type, exc, tb))
            )
            protected = _OWN_AND_ERROR_FIELDS
        fields = record.__dict__
        place_fields(doc, fields, fields.keys() - _RECORD_FIELDS, protected)
        return doc

    def format(self, record: logging.LogRecord) -> str:
        return bounded_json(self.format_to_ecs(record), self.max_line_bytes - 1)


def _text_of(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__}>"


def _json_size(value: str) -> int:
    return len(_encode(value)) - 2  # without the quotes


def _longest_string(doc: dict[str, Any]) -> tuple[dict[str, Any] | list[Any], Any, int] | None:
    """The string that takes the most bytes in the line: (its container, its key, its size)."""
    best: tuple[dict[str, Any] | list[Any], Any, int] | None = None
    stack: list[dict[str, Any] | list[Any]] = [doc]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if isinstance(value, dict | list):
                stack.append(value)
            elif isinstance(value, str) and (best is None or len(value) * 12 > best[2]):
                size = _json_size(value)  # a character is 1-12 bytes once escaped
                if best is None or size > best[2]:
                    best = (node, key, size)
    return best


def _escaped_size(char: str) -> int:
    """Bytes one character takes in our JSON (ensure_ascii): printable ASCII 1, a quote or
    backslash 2, \\n and friends 2, anything else \\uXXXX: 6, a surrogate pair 12."""
    if " " <= char <= "~":
        return 2 if char in '"\\' else 1
    if char in "\n\r\t\b\f":
        return 2
    return 12 if ord(char) > 0xFFFF else 6


def _cut_middle(value: str, size: int, drop: int) -> str:
    """``value`` (``size`` bytes as JSON) without ``drop`` bytes from its middle, counted on
    the escaped form so that a string of emoji or quotes is not cut more than it must be.
    A third of what stays comes from the head, the rest from the tail."""
    keep = max(size - drop, 0)
    head = used = 0
    while head < len(value) and used + _escaped_size(value[head]) <= keep // 3:
        used += _escaped_size(value[head])
        head += 1
    tail = len(value)
    while tail > head and used + _escaped_size(value[tail - 1]) <= keep:
        used += _escaped_size(value[tail - 1])
        tail -= 1
    return value[:head] + TRUNCATED + value[tail:]


_TRUNCATED_SIZE = _json_size(TRUNCATED)
# What the stand-in for a record that cannot be bounded keeps: enough to find it by request.
_IDENTITY = ("tracking_id", "trace.id", "span.id", "log.logger")


def bounded_json(doc: dict[str, Any], limit: int) -> str:
    """Serialize ``doc`` in at most ``limit`` bytes by cutting its longest strings in the middle.

    The head and the tail survive: a stack trace keeps where it started and where it failed.
    Values json cannot write become text (module docstring, rule 3).
    """
    line = _dump(doc)
    for _ in range(12):
        if len(line) <= limit:  # ensure_ascii: characters are bytes
            return line
        longest = _longest_string(doc)
        if longest is None:
            break
        node, key, size = longest
        node[key] = _cut_middle(node[key], size, len(line) - limit + _TRUNCATED_SIZE)
        line = _dump(doc)
    if len(line) <= limit:
        return line
    stand_in = {
        "@timestamp": doc.get("@timestamp"),
        "log.level": "error",
        "message": "log record too large to write; dropped its fields",
        "service.name": doc.get("service.name"),
        "event.dataset": doc.get("event.dataset"),
        "event.id": doc.get("event.id"),
    }
    stand_in |= {
        key: doc[key] for key in _IDENTITY if isinstance(doc.get(key), str) and len(doc[key]) <= 256
    }
    return _dump(stand_in)[:limit]


class ConsoleFormatter(EcsFormatter):
    """The same fields as the JSON line, laid out for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        flat = self.format_to_ecs(record)
        head = "{} {:<7} {} [{}] {}".format(
            flat.pop("@timestamp", ""),
            str(flat.pop("log.level", "")).upper(),
            flat.pop("event.dataset", ""),
            flat.pop("tracking_id", "-"),
            flat.pop("message", ""),
        )
        stack = flat.pop("error.stack_trace", None)
        rest = " ".join(
            f"{k}={_dump({'v': v})[5:-1]}" for k, v in sorted(flat.items(), key=lambda kv: kv[0])
        )
        return f"{head}  {rest}" + (f"\n{stack}" if stack else "")
