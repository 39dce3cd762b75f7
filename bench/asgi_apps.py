"""The three FastAPI apps `make bench` compares (bench/asgi_overhead.py), as uvicorn app
factories so that each worker process sets up its own logging:

* ``orders``: the orders service's app with trackstack (orders.main.worker_app: JSON lines,
  tracking ID, traceparent, X-DateTime, one access line per response)
* ``trackstack``: ``bare`` plus trackstack's middleware and JSON pipeline only (the library's
  cost alone, without orders' other routes' dependencies: fault injection, debug audit)
* ``bare``: FastAPI, the same /api/health body, no middleware, no logging at all
* ``correlation``: FastAPI with asgi-correlation-id's middleware (X-Request-ID) set up as its
  README shows: its log filter on a stdout handler, uvicorn's access log on
"""

from __future__ import annotations

import logging.config

from fastapi import FastAPI
from fastapi.responses import Response

from trackstack import envelope

BODY = envelope.to_bytes(
    envelope.success("GET", "/api/health", {"status": "ok", "service": "trackstack-orders"})
)


def _health_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/api/health")
    async def health() -> Response:
        return Response(BODY, media_type="application/json")

    return app


def bare() -> FastAPI:
    logging.disable(logging.CRITICAL)
    return _health_app()


def with_trackstack() -> FastAPI:
    import trackstack
    from trackstack.asgi import TrackingMiddleware

    settings = trackstack.Settings.from_env(service_name="trackstack-orders")
    trackstack.configure_logging(settings)
    app = _health_app()
    app.add_middleware(TrackingMiddleware, settings=settings)
    return app


def correlation() -> FastAPI:
    from asgi_correlation_id import CorrelationIdMiddleware

    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"correlation_id": {"()": "asgi_correlation_id.CorrelationIdFilter"}},
            "formatters": {
                "line": {
                    "format": "%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s %(message)s"
                }
            },
            "handlers": {
                "stdout": {
                    "class": "logging.StreamHandler",
                    "filters": ["correlation_id"],
                    "formatter": "line",
                    "stream": "ext://sys.stdout",
                }
            },
            "loggers": {
                "uvicorn": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
                "uvicorn.access": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
            },
        }
    )
    app = _health_app()
    app.add_middleware(CorrelationIdMiddleware)
    return app
