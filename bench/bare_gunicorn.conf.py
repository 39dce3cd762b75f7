"""The service's gunicorn settings, with gunicorn's stock gevent worker and text access log."""

import runpy
from pathlib import Path

_service = runpy.run_path(str(Path(__file__).resolve().parents[1] / "service" / "gunicorn.conf.py"))
for _name in (
    "bind",
    "workers",
    "worker_connections",
    "keepalive",
    "control_socket_disable",
    "timeout",
    "graceful_timeout",
    "accesslog",
    "errorlog",
    "loglevel",
):
    globals()[_name] = _service[_name]

wsgi_app = "bench.bare_app:create_app()"
worker_class = "gevent"
