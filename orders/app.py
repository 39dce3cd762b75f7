"""``create_app(settings)``: the FastAPI app, wired (middleware, error envelopes, routes)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from http import HTTPStatus

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from orders import api
from orders.config import Settings
from orders.responses import error
from trackstack.asgi import TrackingMiddleware
from trackstack.httpx import AsyncTrackingTransport

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, downstream: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The app. ``downstream``: the transport under trackstack's for the outbound calls
    (default a real connection pool; tests pass ``httpx.ASGITransport``)."""
    settings = settings or Settings.from_env()
    client = httpx.AsyncClient(
        base_url=settings.downstream_url,
        transport=AsyncTrackingTransport(downstream),
        timeout=settings.downstream_timeout_s,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = FastAPI(
        title=settings.service_name,
        version="1",
        docs_url=None,  # HTML pages; every answer here is the JSON envelope
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.downstream = client

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        # 404, 405 (with Allow) ...: the envelope, as Flask's handler answers them.
        return error(request, exc.status_code, HTTPStatus(exc.status_code).phrase, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own 422 body echoes the input back; say only where and what.
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        reason = f"invalid {where}: {first.get('msg', 'invalid request')}"[:200]
        log.warning("request rejected: %s", reason, extra={"event.action": "request_invalid"})
        return error(request, 422, reason)

    app.include_router(api.router)
    # Outermost: every answer (404/405/422 from the router, 500 from an exception) passes it.
    app.add_middleware(TrackingMiddleware, settings=settings.tracking())
    return app
