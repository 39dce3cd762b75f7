"""The service's gunicorn settings, with gunicorn's stock gevent worker and text access log."""

from bench.serve import service_gunicorn_settings

globals().update(service_gunicorn_settings())

wsgi_app = "bench.bare_app:create_app()"
worker_class = "gevent"
