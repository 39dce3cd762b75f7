"""The article's gunicorn settings: the stock gevent worker and a JSON-looking access line.

Shared settings (bind, workers, keep-alive, timeouts) are the service's, as for the bare app.
"""

from bench.serve import service_gunicorn_settings

globals().update(service_gunicorn_settings())

wsgi_app = "bench.apps.article:create_app()"
worker_class = "gevent"
# Not escaped JSON: a quote in a header or path breaks the line, as in the article.
access_log_format = (
    '{"remote_ip":"%(h)s","request_id":"%({x-tracking-id}i)s","response_code":"%(s)s",'
    '"request_method":"%(m)s","request_path":"%(U)s","request_querystring":"%(q)s",'
    '"request_timetaken":"%(D)s","response_length":"%(B)s"}'
)
