"""`make bench`: CPU time per /api/health request of the four FastAPI apps of
bench/asgi_overhead.py, called in one process with no server and no network: the middleware's
cost without wrk, uvicorn or other processes' noise. Lines go to /dev/null through each app's
real logging pipeline. Best of ``--repeat`` runs of ``--requests`` calls, CPU time
(time.process_time), so other processes on a shared machine barely move it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import trackstack
from bench import asgi_apps
from orders import create_app
from orders.config import Settings

SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/api/health",
    "raw_path": b"/api/health",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"bench"), (b"user-agent", b"bench/1")],
    "client": ("127.0.0.1", 40000),
    "server": ("127.0.0.1", 8000),
}


async def _calls(app: Any, n: int) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    for _ in range(n):
        await app(dict(SCOPE), receive, send)


def _apps(devnull: int) -> dict[str, Callable[[], Any]]:
    def with_trackstack() -> Any:
        settings = trackstack.Settings(service_name="trackstack-orders")
        trackstack.configure_logging(settings, fd=devnull)
        from trackstack.asgi import TrackingMiddleware

        app = asgi_apps._health_app()
        app.add_middleware(TrackingMiddleware, settings=settings)
        return app

    def orders() -> Any:
        settings = Settings()
        trackstack.configure_logging(settings.tracking(), fd=devnull)
        return create_app(settings)

    def correlation() -> Any:
        from asgi_correlation_id import CorrelationIdFilter, CorrelationIdMiddleware

        root = logging.getLogger()
        for old in list(root.handlers):
            root.removeHandler(old)
        handler = logging.StreamHandler(open(os.devnull, "w"))
        handler.addFilter(CorrelationIdFilter())
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(correlation_id)s] %(message)s")
        )
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        app = asgi_apps._health_app()
        app.add_middleware(CorrelationIdMiddleware)
        log = logging.getLogger("uvicorn.access")

        async def with_access_line(scope: Any, receive: Any, send: Any) -> None:
            # uvicorn writes this line for it under a server; here we write it the same way.
            await app(scope, receive, send)
            log.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:40000", "GET", "/api/health", "1.1", 200)

        return with_access_line

    return {
        "bare": asgi_apps._health_app,
        "trackstack": with_trackstack,
        "correlation": correlation,
        "orders": orders,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    devnull = os.open(os.devnull, os.O_WRONLY)
    results = {}
    for name, build in _apps(devnull).items():
        logging.disable(logging.CRITICAL if name == "bare" else logging.NOTSET)
        app = build()
        asyncio.run(_calls(app, 200))  # warm-up
        best = float("inf")
        for _ in range(args.repeat):
            started = time.process_time()
            asyncio.run(_calls(app, args.requests))
            best = min(best, time.process_time() - started)
        results[name] = best / args.requests * 1e6
    logging.disable(logging.NOTSET)
    print(f"CPU µs per /api/health request (best of {args.repeat} x {args.requests}, no server):")
    for name, micros in results.items():
        print(f"  {name:<12} {micros:7.1f} µs   {micros - results['bare']:+7.1f} µs vs bare")


if __name__ == "__main__":
    main()
