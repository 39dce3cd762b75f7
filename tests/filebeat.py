"""What Filebeat does to one of our lines, in Python, to test lines without running it.

Mirrors libbeat (beats v7 at the commit native/build-filebeat.sh builds):
* reader/readjson ``unmarshal``: Go's encoding/json with UseNumber (refuses NaN/Infinity,
  needs one JSON object);
* common/jsontransform ``expandFields``: de-dots keys in place; a key that is both a value
  and a prefix of another is an error and the whole line keeps none of its fields;
* common/jsontransform ``WriteJSONKeys`` (overwrite_keys: true): ``@timestamp`` must parse,
  ``@metadata`` must be an object, ``type`` a string not starting with "_"; then
  ``DeepUpdate`` of the event, whose pipeline fields a line must not replace.
"""

from __future__ import annotations

import json
from typing import Any


class ExpandError(ValueError):
    """Filebeat would write "cannot expand ..." and ship the line without its fields."""


def _put(m: dict[str, Any], key: str, value: Any) -> Any:
    """mapstr.M.Put: walks dotted parts, creating maps; error on a non-map parent."""
    data = m
    while True:
        if key in data:
            old = data[key]
            data[key] = value
            return old
        dot = key.find(".")
        if dot < 0:
            data[key] = value
            return None
        head, key = key[:dot], key[dot + 1 :]
        if head not in data:
            data[head] = {}
        if not isinstance(data[head], dict):
            raise ExpandError(f"cannot expand: {head!r} is a value")
        data = data[head]


def _merge(lhs: dict[str, Any], rhs: dict[str, Any]) -> None:
    for key, value in rhs.items():
        if key not in lhs:
            lhs[key] = value
            continue
        if not isinstance(lhs[key], dict) or not isinstance(value, dict):
            raise ExpandError(f"cannot merge {key!r}")
        _merge(lhs[key], value)


def expand_fields(m: dict[str, Any]) -> None:
    """jsontransform.expandFields, including its in-place, destructive order."""
    for key in list(m):
        if key not in m:
            continue
        value = m[key]
        if isinstance(value, dict):
            expand_fields(value)
        if "." not in key:
            continue
        del m[key]
        old = _put(m, key, value)
        if old is None:
            continue
        if not isinstance(value, dict) or not isinstance(old, dict):
            raise ExpandError(f"cannot expand {key!r}: found existing value")
        _merge(value, old)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Go's JSON decoder refuses {name}")


# What the pipeline adds to every event before or after the line's keys are written.
PIPELINE_EVENT = {
    "log": {"offset": 1234, "file": {"path": "/var/log/app.ndjson", "inode": "1"}},
    "input": {"type": "filestream"},
    "host": {"name": "box"},
    "agent": {"name": "box", "type": "filebeat", "version": "9.1.0"},
    "ecs": {"version": "8.0.0"},
    "stream": "stdout",
}


def _leaves(m: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in m.items():
        if isinstance(value, dict) and value:
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def ship(line: str) -> dict[str, Any]:
    """The event Filebeat would index for ``line``, or ExpandError / ValueError saying why
    the line's fields would be lost or the pipeline's own fields overwritten."""
    if "\n" in line:
        raise ValueError("more than one line")
    fields = json.loads(line, parse_constant=_reject_constant)
    if not isinstance(fields, dict):
        raise ValueError("not a JSON object")
    expand_fields(fields)
    if "@metadata" in fields and not isinstance(fields["@metadata"], dict):
        raise ExpandError("@metadata not an object")
    if "type" in fields:
        raise ExpandError("type is reserved by Filebeat")
    fields.pop("@timestamp", None)
    fields.pop("@metadata", None)
    _elasticsearch_accepts_names(fields)
    event = json.loads(json.dumps(PIPELINE_EVENT))
    before = _leaves(PIPELINE_EVENT)
    _deep_update(event, fields)
    after = _leaves(event)
    lost = [k for k in before if k != "ecs.version" and after.get(k) != before[k]]
    if lost:
        raise ExpandError(f"the line overwrites pipeline fields {lost}")
    return event


def _elasticsearch_accepts_names(m: dict[str, Any], root: bool = True) -> None:
    """Elasticsearch refuses empty field names and, at the root, metadata names (_id...)."""
    for key, value in m.items():
        if not key.strip() or (root and key.startswith("_")):
            raise ExpandError(f"Elasticsearch refuses the field name {key!r}")
        if isinstance(value, dict):
            _elasticsearch_accepts_names(value, root=False)


def _deep_update(m: dict[str, Any], d: dict[str, Any]) -> None:
    """mapstr.M.DeepUpdate (overwrite): maps merge, anything else replaces."""
    for key, value in d.items():
        if isinstance(value, dict) and isinstance(m.get(key), dict):
            _deep_update(m[key], value)
        else:
            m[key] = value
