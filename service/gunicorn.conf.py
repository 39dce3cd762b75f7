"""gunicorn settings for trackstack (``make serve``, the native stack and the Dockerfile).

Environment: PORT (8000), BIND_HOST (127.0.0.1; the Dockerfile sets 0.0.0.0),
WEB_CONCURRENCY (2 workers), GEVENT_CONNECTIONS (1000 per worker), LOG_LEVEL (INFO),
LOG_FILE (unset: stdout; set: append there, and reopen it on SIGUSR1 after a rename).
"""

import os
import secrets

from service.config import Settings, worker_count
from trackstack.gunicorn import JsonLogger
from trackstack.settings import ConfigError, exit_for, whole


class ServiceLogger(JsonLogger):
    """trackstack's gunicorn logger, with the demo's settings (its service name, its loggers)."""

    settings_factory = staticmethod(lambda: Settings.from_env().tracking())


# The workers fork from here: one login-token key for all of them (service/auth.py).
os.environ.setdefault("LOGIN_TOKEN_KEY", secrets.token_hex(32))

# The numbers gunicorn takes from the environment, checked as trackstack checks its own: a bad
# one ends the start with one JSON line naming it (exit_for), not gunicorn's traceback.
try:
    _port = whole(os.environ, "PORT", 8000, 1, 65535)
    _workers = worker_count(os.environ)
    _connections = whole(os.environ, "GEVENT_CONNECTIONS", 1000, 1, 100_000)
except ConfigError as exc:
    exit_for(exc)

wsgi_app = "service:create_app()"
bind = f"{os.environ.get('BIND_HOST', '127.0.0.1')}:{_port}"
workers = _workers
worker_class = "trackstack.gunicorn.TrackingGeventWorker"
worker_connections = _connections
keepalive = 5
# gunicorn >= 25.1 opens a control socket (for gunicornc) at one path per user,
# $HOME/.gunicorn/gunicorn.ctl: every gunicorn of that user shares it, and a container's user
# has no home at all. Nothing here uses gunicornc.
control_socket_disable = True
timeout = 30
graceful_timeout = 20

# Every line is JSON on stdout: gunicorn's own lines and the access log go through
# trackstack's pipeline via this logger class; "-" only switches the access log on.
logger_class = ServiceLogger
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# Hostile input stays bounded: request line and header limits (gunicorn's defaults, explicit).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
