"""The library's settings: environment variables with documented defaults.

Only what the tracking core needs; an application keeps its own settings beside these.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NoReturn

POLICIES = ("replace", "reject", "ignore")
LOG_FORMATS = ("json", "console")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_LINE_BYTES = 65536  # the largest line written whole (issue: a chained traceback)


class ConfigError(ValueError):
    """A setting has a value trackstack cannot use; the message names the variable."""


def exit_for(error: ConfigError) -> NoReturn:
    """Ends a server that cannot start because of ``error``: one ECS JSON line on stderr,
    ``log.level`` error, ``error.type`` ConfigError, the message naming the variable and its
    rule, then exit status 1.

    JSON, not a traceback or plain text, because a server's stderr goes where its log lines
    go (the native stack's .ndjson file, Docker's log): Filebeat ships it like any other
    line, and a person reads one line. ``service.name`` comes from SERVICE_NAME when set;
    ``event.id``, ``log.logger`` (trackstack.settings) and ``process.pid`` are there as on
    every line.
    """
    from trackstack.ecs import ECS_VERSION, event_ids  # here: settings stays importable alone

    prefix = os.environ.get("LOG_DATASET_PREFIX", "").strip() or "trackstack"
    line = {
        "@timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "log.level": "error",
        "message": f"configuration error: {error}",
        "ecs.version": ECS_VERSION,
        # LOG_DATASET_PREFIX as the pipeline would apply it: a filter on it keeps this line.
        "event.dataset": f"{prefix}.server",
        "error.type": "ConfigError",
        "error.message": str(error),
        "event.id": event_ids.next(),
        "log.logger": "trackstack.settings",
        "process.pid": os.getpid(),
    }
    if os.environ.get("SERVICE_NAME"):
        line["service.name"] = os.environ["SERVICE_NAME"]
    sys.stderr.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stderr.flush()
    raise SystemExit(1)


def number(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    """``env[name]`` as a number in ``lo..hi`` (``default`` if unset or blank); ConfigError
    naming the variable otherwise. Shared with applications' own settings (the demo's)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={raw!r} must be between {lo:g} and {hi:g}")
    return value


def whole(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """``env[name]`` as a whole number in ``lo..hi`` (``default`` if unset or blank);
    ConfigError naming the variable otherwise, a fraction included: a port, a count of
    workers or a size in bytes has none, and cutting ``2.5`` to 2 would hide the mistake."""
    value = number(env, name, default, lo, hi)
    if value != int(value):
        raise ConfigError(f"{name}={env.get(name, '').strip()!r} must be a whole number")
    return int(value)


def choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """``env[name]`` lower-cased, one of ``choices`` (the first when unset); else ConfigError."""
    value = env.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise ConfigError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


_FLAGS = {"1": True, "true": True, "on": True, "yes": True, "0": False, "false": False}
_FLAGS |= {"off": False, "no": False}


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return False
    if raw not in _FLAGS:
        raise ConfigError(f"{name}={raw!r} must be one of 1, true, on, yes, 0, false, off, no")
    return _FLAGS[raw]


def parse_log_levels(raw: str, name: str = "LOG_LEVELS") -> tuple[tuple[str, str], ...]:
    """``"service.downstream=DEBUG, urllib3=warning"`` -> (("service.downstream", "DEBUG"),
    ("urllib3", "WARNING")). Empty -> (). Raises ConfigError naming the variable and the
    entry: not ``logger=LEVEL``, an empty or spaced logger name, an unknown level (the
    stdlib's names: DEBUG, INFO, WARNING, ERROR, CRITICAL), a logger named twice."""
    pairs: dict[str, str] = {}
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        logger, sep, level = (piece.strip() for piece in entry.partition("="))
        if not sep or not logger or any(ch.isspace() for ch in logger):
            raise ConfigError(f"{name}: {entry!r} is not logger=LEVEL (e.g. urllib3=WARNING)")
        if level.upper() not in LEVELS:
            raise ConfigError(f"{name}: {entry!r}: level must be one of {', '.join(LEVELS)}")
        if logger in pairs:
            raise ConfigError(f"{name}: logger {logger!r} is named twice")
        pairs[logger] = level.upper()
    return tuple(pairs.items())


def _names(raw: str, lower: bool = False) -> tuple[str, ...]:
    return tuple((k.strip().lower() if lower else k.strip()) for k in raw.split(",") if k.strip())


@dataclass(frozen=True)
class Settings:
    """What the tracking core is told. ``Settings.from_env()`` reads the variables:

    ======================  ==================  ==============================================
    field                   variable            meaning (default)
    ======================  ==================  ==============================================
    service_name            SERVICE_NAME        ``service.name`` on every line ("app")
    tracking_id_policy      TRACKING_ID_POLICY  replace | reject | ignore an invalid client ID
    log_level               LOG_LEVEL           INFO
    log_format              LOG_FORMAT          json (what Filebeat reads) | console
    log_max_line_bytes      LOG_MAX_LINE_BYTES  1024..65536 (65536); written whole (writer.py)
    log_file                LOG_FILE            unset: stdout; set: append there
    debug_log_token         DEBUG_LOG_TOKEN     unset: per-request DEBUG is off
    redact_keys             REDACT_KEYS         comma-separated words added to the defaults
    debug_loggers           DEBUG_LOGGERS       loggers whose DEBUG records a request may see
    dataset_prefix          LOG_DATASET_PREFIX  ``event.dataset`` = <prefix>.app|access|server
    log_levels              LOG_LEVELS          ``logger=LEVEL,...``: that logger's lines at
                                                that level and up are written, whatever
                                                LOG_LEVEL says (unset: none)
    debug_sample_rate       DEBUG_SAMPLE_RATE   0..1: share of requests with DEBUG on (0)
    debug_on_failure        DEBUG_ON_FAILURE    1/on: hold each request's DEBUG records and
                                                write them only if it fails or is slow (off)
    debug_slow_ms           DEBUG_SLOW_MS       with DEBUG_ON_FAILURE: a request at least this
                                                slow counts as failed (0: slowness never does)
    debug_held_per_request  DEBUG_HELD_PER_REQUEST  records held per request (200)
    debug_held_per_worker   DEBUG_HELD_PER_WORKER   records held by a process at once (5000)
    ======================  ==================  ==============================================
    """

    service_name: str = "app"
    tracking_id_policy: str = "replace"
    log_level: str = "INFO"
    log_format: str = "json"
    log_max_line_bytes: int = 65536
    log_file: str | None = None
    debug_log_token: str | None = None
    redact_keys: tuple[str, ...] = field(default_factory=tuple)
    debug_loggers: tuple[str, ...] = field(default_factory=tuple)
    dataset_prefix: str = "trackstack"
    log_levels: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    debug_sample_rate: float = 0.0
    debug_on_failure: bool = False
    debug_slow_ms: int = 0
    debug_held_per_request: int = 200
    debug_held_per_worker: int = 5000

    def __post_init__(self) -> None:
        if self.tracking_id_policy not in POLICIES:
            raise ConfigError(f"tracking_id_policy must be one of {', '.join(POLICIES)}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"log_format must be one of {', '.join(LOG_FORMATS)}")
        if self.log_level not in LEVELS:
            raise ConfigError(f"log_level must be one of {', '.join(LEVELS)}")
        if not 1024 <= self.log_max_line_bytes <= MAX_LINE_BYTES:
            raise ConfigError(f"log_max_line_bytes must be between 1024 and {MAX_LINE_BYTES}")
        for logger, level in self.log_levels:
            if level not in LEVELS:
                raise ConfigError(f"log_levels: {logger}={level} is not a logging level")
        if not 0.0 <= self.debug_sample_rate <= 1.0:
            raise ConfigError("debug_sample_rate must be between 0 and 1")
        if self.debug_slow_ms < 0:
            raise ConfigError("debug_slow_ms must be 0 or more")
        if self.debug_held_per_request < 1 or self.debug_held_per_worker < 1:
            raise ConfigError("debug_held_per_request and debug_held_per_worker must be >= 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``env`` (default ``os.environ``); keyword ``overrides`` win.

        Raises ConfigError naming the variable whose value cannot be used.
        """
        env = os.environ if env is None else env
        level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if level not in LEVELS:
            raise ConfigError(f"LOG_LEVEL={level!r} is not a logging level")
        values: dict[str, object] = {
            "service_name": env.get("SERVICE_NAME", "").strip() or cls.service_name,
            "tracking_id_policy": choice(env, "TRACKING_ID_POLICY", POLICIES),
            "log_level": level,
            "log_format": choice(env, "LOG_FORMAT", LOG_FORMATS),
            # Lines above PIPE_BUF are still written whole: the writer serializes them
            # across the processes that share the output (trackstack/writer.py).
            "log_max_line_bytes": whole(
                env, "LOG_MAX_LINE_BYTES", MAX_LINE_BYTES, 1024, MAX_LINE_BYTES
            ),
            "log_file": env.get("LOG_FILE", "").strip() or None,
            "debug_log_token": env.get("DEBUG_LOG_TOKEN") or None,
            "redact_keys": _names(env.get("REDACT_KEYS", ""), lower=True),
            "debug_loggers": _names(env.get("DEBUG_LOGGERS", "")),
            "dataset_prefix": env.get("LOG_DATASET_PREFIX", "").strip() or cls.dataset_prefix,
            **debug_settings(env),
        }
        return cls(**(values | overrides))  # type: ignore[arg-type]


def debug_settings(env: Mapping[str, str]) -> dict[str, object]:
    """The per-logger level and debug settings read from ``env``, as ``Settings`` fields.

    Shared with applications that build ``Settings`` from their own configuration class.
    Raises ConfigError naming the variable.
    """
    return {
        "log_levels": parse_log_levels(env.get("LOG_LEVELS", "")),
        "debug_sample_rate": number(env, "DEBUG_SAMPLE_RATE", 0.0, 0.0, 1.0),
        "debug_on_failure": _flag(env, "DEBUG_ON_FAILURE"),
        "debug_slow_ms": whole(env, "DEBUG_SLOW_MS", 0, 0, 3_600_000),
        "debug_held_per_request": whole(env, "DEBUG_HELD_PER_REQUEST", 200, 1, 100_000),
        "debug_held_per_worker": whole(env, "DEBUG_HELD_PER_WORKER", 5000, 1, 1_000_000),
    }
