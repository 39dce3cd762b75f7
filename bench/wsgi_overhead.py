"""In one process, no server: the WSGI call for /api/health of the bare app, the bare app
behind our tracking middleware, and the full service. Best of 4x3x2000 calls each, in
alternating order. Shows where the service's extra microseconds per request go."""

from __future__ import annotations

import functools
import io
import timeit
from collections.abc import Callable
from typing import Any

from bench.bare_app import create_app as create_bare
from service import create_app
from service.config import Settings
from trackstack.wsgi import TrackingMiddleware

ENVIRON = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/api/health",
    "SERVER_NAME": "bench",
    "SERVER_PORT": "80",
    "wsgi.url_scheme": "http",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "QUERY_STRING": "",
}


def call(app: Callable[..., Any]) -> None:
    environ = dict(ENVIRON, **{"wsgi.input": io.BytesIO()})
    body = app(environ, lambda status, headers, exc_info=None: None)
    list(body)
    body.close()


def main() -> None:
    with_middleware = create_bare()
    with_middleware.wsgi_app = TrackingMiddleware(with_middleware.wsgi_app)  # type: ignore[method-assign]
    apps = {
        "bare Flask": create_bare(),
        "bare + TrackingMiddleware": with_middleware,
        "the service": create_app(Settings(service_name="bench")),
    }
    best: dict[str, float] = {}
    for _ in range(4):
        for name, app in apps.items():
            seconds = min(timeit.repeat(functools.partial(call, app), number=2000, repeat=3)) / 2000
            best[name] = min(best.get(name, 1.0), seconds)
    for name, seconds in best.items():
        print(f"{name:<28} {seconds * 1e6:6.1f} us per request")


if __name__ == "__main__":
    main()
