"""Service settings: environment variables with documented defaults (see README)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

import trackstack
from trackstack.settings import ConfigError, number, whole

__all__ = ["ConfigError", "Settings", "number", "whole", "worker_count"]


@dataclass(frozen=True)
class Settings(trackstack.Settings):
    """The library's settings (``trackstack.Settings``: the LOG_*, TRACKING_ID_POLICY and
    DEBUG_* variables, read and checked there) plus the demo's own; defaults in the README."""

    service_name: str = "trackstack-service"
    # X-Debug-Log (and sampled or held debug) opens the demo's own loggers
    debug_loggers: tuple[str, ...] = ("service",)
    downstream_url: str = "http://127.0.0.1:8000"
    downstream_timeout_s: float = 5.0
    fault_error_rate: float = 0.0
    fault_latency_ms: int = 0
    db_latency_ms: int = 100
    max_body_bytes: int = 1024 * 1024
    # Signs the demo's login tokens (service/auth.py); every worker must share it.
    login_token_key: str = field(default_factory=lambda: secrets.token_hex(32))

    def tracking(self) -> trackstack.Settings:
        """The part trackstack (the library) needs: these settings are that already."""
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``env`` (default ``os.environ``); ConfigError names a bad variable."""
        env = os.environ if env is None else env
        port = env.get("PORT", "8000").strip() or "8000"
        demo: dict[str, object] = {
            "debug_loggers": cls.debug_loggers,
            "downstream_url": (
                env.get("DOWNSTREAM_URL", "").strip() or f"http://127.0.0.1:{port}"
            ).rstrip("/"),
            "downstream_timeout_s": number(env, "DOWNSTREAM_TIMEOUT_S", 5.0, 0.1, 60),
            "fault_error_rate": number(env, "FAULT_ERROR_RATE", 0.0, 0.0, 1.0),
            "fault_latency_ms": whole(env, "FAULT_LATENCY_MS", 0, 0, 60_000),
            "db_latency_ms": whole(env, "DB_LATENCY_MS", 100, 0, 60_000),
            "max_body_bytes": whole(env, "MAX_BODY_BYTES", 1024 * 1024, 1024, 64 * 1024**2),
            "login_token_key": env.get("LOGIN_TOKEN_KEY") or secrets.token_hex(32),
        }
        settings = super().from_env(env, **(demo | overrides))
        assert isinstance(settings, cls)
        return settings


def worker_count(env: Mapping[str, str]) -> int:
    """gunicorn's worker processes: ``WEB_CONCURRENCY``, 1..256 (2 when unset or blank; a
    fraction is refused like any bad value). ConfigError names it otherwise. One rule for
    ``python -m service`` (before gunicorn reads the variable itself) and gunicorn.conf.py."""
    return whole(env, "WEB_CONCURRENCY", 2, 1, 256)
