"""Service settings: environment variables with documented defaults (see README)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

import trackstack
import trackstack.settings

POLICIES = ("replace", "reject", "ignore")
LOG_FORMATS = ("json", "console")


class ConfigError(ValueError):
    """A setting has a value the service cannot use; the message names it."""


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
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


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise ConfigError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class Settings:
    service_name: str = "trackstack-service"
    tracking_id_policy: str = "replace"
    log_level: str = "INFO"
    log_format: str = "json"
    log_max_line_bytes: int = trackstack.settings.MAX_LINE_BYTES
    log_file: str | None = None
    debug_log_token: str | None = None
    redact_keys: tuple[str, ...] = field(default_factory=tuple)
    downstream_url: str = "http://127.0.0.1:8000"
    downstream_timeout_s: float = 5.0
    fault_error_rate: float = 0.0
    fault_latency_ms: int = 0
    db_latency_ms: int = 100
    max_body_bytes: int = 1024 * 1024
    # Signs the demo's login tokens (service/auth.py); every worker must share it.
    login_token_key: str = field(default_factory=lambda: secrets.token_hex(32))
    # LOG_LEVELS and the DEBUG_* variables, as trackstack reads them (trackstack.Settings)
    log_levels: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    debug_sample_rate: float = 0.0
    debug_on_failure: bool = False
    debug_slow_ms: int = 0
    debug_held_per_request: int = 200
    debug_held_per_worker: int = 5000

    def tracking(self) -> trackstack.Settings:
        """The part trackstack (the library) needs, with the demo's own loggers debuggable."""
        return trackstack.Settings(
            service_name=self.service_name,
            tracking_id_policy=self.tracking_id_policy,
            log_level=self.log_level,
            log_format=self.log_format,
            log_max_line_bytes=self.log_max_line_bytes,
            log_file=self.log_file,
            debug_log_token=self.debug_log_token,
            redact_keys=self.redact_keys,
            debug_loggers=("service",),
            log_levels=self.log_levels,
            debug_sample_rate=self.debug_sample_rate,
            debug_on_failure=self.debug_on_failure,
            debug_slow_ms=self.debug_slow_ms,
            debug_held_per_request=self.debug_held_per_request,
            debug_held_per_worker=self.debug_held_per_worker,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(f"LOG_LEVEL={level!r} is not a logging level")
        port = env.get("PORT", "8000").strip() or "8000"
        extra_keys = env.get("REDACT_KEYS", "")
        return cls(
            service_name=env.get("SERVICE_NAME", "").strip() or cls.service_name,
            tracking_id_policy=_choice(env, "TRACKING_ID_POLICY", POLICIES),
            log_level=level,
            log_format=_choice(env, "LOG_FORMAT", LOG_FORMATS),
            log_max_line_bytes=int(
                _float(env, "LOG_MAX_LINE_BYTES", cls.log_max_line_bytes, 1024, 65536)
            ),
            log_file=env.get("LOG_FILE", "").strip() or None,
            debug_log_token=env.get("DEBUG_LOG_TOKEN") or None,
            redact_keys=tuple(k.strip().lower() for k in extra_keys.split(",") if k.strip()),
            downstream_url=(
                env.get("DOWNSTREAM_URL", "").strip() or f"http://127.0.0.1:{port}"
            ).rstrip("/"),
            downstream_timeout_s=_float(env, "DOWNSTREAM_TIMEOUT_S", 5.0, 0.1, 60),
            fault_error_rate=_float(env, "FAULT_ERROR_RATE", 0.0, 0.0, 1.0),
            fault_latency_ms=int(_float(env, "FAULT_LATENCY_MS", 0, 0, 60_000)),
            db_latency_ms=int(_float(env, "DB_LATENCY_MS", 100, 0, 60_000)),
            max_body_bytes=int(_float(env, "MAX_BODY_BYTES", 1024 * 1024, 1024, 64 * 1024**2)),
            login_token_key=env.get("LOGIN_TOKEN_KEY") or secrets.token_hex(32),
            **_debug_settings(env),  # type: ignore[arg-type]
        )


def _debug_settings(env: Mapping[str, str]) -> dict[str, object]:
    try:
        return trackstack.settings.debug_settings(env)
    except trackstack.ConfigError as exc:
        raise ConfigError(str(exc)) from None
