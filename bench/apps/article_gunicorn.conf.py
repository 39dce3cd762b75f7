"""The article's gunicorn settings: the stock gevent worker and a JSON-looking access line.

Shared settings (bind, workers, keep-alive, timeouts) are the service's, as for the bare app.
"""

import runpy
from pathlib import Path

_service = runpy.run_path(str(Path(__file__).resolve().parents[2] / "service" / "gunicorn.conf.py"))
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

wsgi_app = "bench.apps.article:create_app()"
worker_class = "gevent"
# Not escaped JSON: a quote in a header or path breaks the line, as in the article.
access_log_format = (
    '{"remote_ip":"%(h)s","request_id":"%({x-tracking-id}i)s","response_code":"%(s)s",'
    '"request_method":"%(m)s","request_path":"%(U)s","request_querystring":"%(q)s",'
    '"request_timetaken":"%(D)s","response_length":"%(B)s"}'
)
