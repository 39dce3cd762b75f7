"""The library's settings: environment variables with documented defaults.

Only what the tracking core needs; an application keeps its own settings beside these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

POLICIES = ("replace", "reject", "ignore")
LOG_FORMATS = ("json", "console")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting has a value trackstack cannot use; the message names the variable."""


def _number(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
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


def choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """``env[name]`` lower-cased, one of ``choices`` (the first when unset); else ConfigError."""
    value = env.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise ConfigError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


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
    log_max_line_bytes      LOG_MAX_LINE_BYTES  1024..4096 (PIPE_BUF: one atomic write)
    log_file                LOG_FILE            unset: stdout; set: append there
    debug_log_token         DEBUG_LOG_TOKEN     unset: per-request DEBUG is off
    redact_keys             REDACT_KEYS         comma-separated words added to the defaults
    debug_loggers           DEBUG_LOGGERS       loggers whose DEBUG records a request may see
    dataset_prefix          LOG_DATASET_PREFIX  ``event.dataset`` = <prefix>.app|access|server
    ======================  ==================  ==============================================
    """

    service_name: str = "app"
    tracking_id_policy: str = "replace"
    log_level: str = "INFO"
    log_format: str = "json"
    log_max_line_bytes: int = 4096
    log_file: str | None = None
    debug_log_token: str | None = None
    redact_keys: tuple[str, ...] = field(default_factory=tuple)
    debug_loggers: tuple[str, ...] = field(default_factory=tuple)
    dataset_prefix: str = "trackstack"

    def __post_init__(self) -> None:
        if self.tracking_id_policy not in POLICIES:
            raise ConfigError(f"tracking_id_policy must be one of {', '.join(POLICIES)}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"log_format must be one of {', '.join(LOG_FORMATS)}")
        if self.log_level not in LEVELS:
            raise ConfigError(f"log_level must be one of {', '.join(LEVELS)}")
        if not 1024 <= self.log_max_line_bytes <= 4096:
            raise ConfigError("log_max_line_bytes must be between 1024 and 4096")

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
            # PIPE_BUF on Linux: one write(2) of at most this many bytes never interleaves
            # with another process's write to the same pipe.
            "log_max_line_bytes": int(_number(env, "LOG_MAX_LINE_BYTES", 4096, 1024, 4096)),
            "log_file": env.get("LOG_FILE", "").strip() or None,
            "debug_log_token": env.get("DEBUG_LOG_TOKEN") or None,
            "redact_keys": _names(env.get("REDACT_KEYS", ""), lower=True),
            "debug_loggers": _names(env.get("DEBUG_LOGGERS", "")),
            "dataset_prefix": env.get("LOG_DATASET_PREFIX", "").strip() or cls.dataset_prefix,
        }
        return cls(**(values | overrides))  # type: ignore[arg-type]
