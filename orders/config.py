"""orders' settings: the demo service's (service/config.py, same variables and defaults) plus
the ones only this process model has.

Extra environment variables:
  WEB_CONCURRENCY      worker processes (2), as for the Flask service
  LOG_DIR              unset: one stream (stdout, or LOG_FILE). Set: every process writes its
                       own file <LOG_DIR>/<SERVICE_NAME>-<pid>.ndjson, renamed at midnight UTC
                       to <...>.ndjson.<YYYY-MM-DD> (see orders/logfiles.py)
  LOG_RETENTION_DAYS   with LOG_DIR: how many days of renamed files to keep (7, 1..3650)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from service import config as service_config
from service.config import ConfigError

__all__ = ["ConfigError", "Settings"]


@dataclass(frozen=True)
class Settings(service_config.Settings):
    service_name: str = "trackstack-orders"
    # X-Debug-Log (and sampled or held debug) opens orders' own loggers
    debug_loggers: tuple[str, ...] = ("orders",)
    workers: int = 2
    log_dir: str | None = None
    log_retention_days: int = 7

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """The service's settings from ``env`` plus orders' own; ConfigError names a bad one."""
        env = os.environ if env is None else env
        own: dict[str, object] = {
            "workers": service_config.whole(env, "WEB_CONCURRENCY", 2, 1, 64),
            "log_dir": env.get("LOG_DIR", "").strip() or None,
            "log_retention_days": service_config.whole(env, "LOG_RETENTION_DAYS", 7, 1, 3650),
        }
        settings = super().from_env(env, **(own | overrides))
        assert isinstance(settings, cls)
        return settings
