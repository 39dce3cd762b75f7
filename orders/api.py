"""orders' endpoints: the Flask service's contract (service/api.py), written the asyncio way.

Each of the seed articles' points is one endpoint here (one test each: tests/unit/orders/):

* ``/api/users``    an ``async`` handler awaiting a simulated database call, logging under the ID
* ``/api/context``  a handler that gets the tracking ID and trace by dependency injection
* ``/api/jobs``     a ``BackgroundTasks`` job: its lines keep the request's ID after the 202,
                    with nothing passed explicitly (the middleware is pure ASGI)
* ``/api/item``     a sync ``def`` handler, run in Starlette's thread pool, keeps the ID
* ``/api/orders/x`` an ``httpx.AsyncClient`` call to another service, with propagation
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import threading
import time
import uuid
from datetime import datetime
from typing import Annotated

import httpx
from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from fastapi.responses import Response

from orders import faults
from orders.responses import error, ok
from trackstack import TraceContext, current_trace, current_tracking_id

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", dependencies=[Depends(faults.inject)])

USERS = [
    {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"},
    {"id": 2, "name": "Grace Hopper", "email": "grace@example.com"},
    {"id": 3, "name": "Linus Torvalds", "email": "linus@example.com"},
]
NAMES = ["alpha", "bravo", "charlie", "delta", "echo"]
ORDER_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
MAX_SLOW_MS = 10_000
LOGIN_SCHEMA = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["username", "password"],
                "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
            }
        }
    },
}


def get_tracking_id() -> str | None:
    """Dependency: the current request's tracking ID (set by trackstack's middleware)."""
    return current_tracking_id()


def get_trace() -> TraceContext | None:
    """Dependency: the current request's span."""
    return current_trace()


@router.get("/health")
async def health(request: Request) -> Response:
    return ok(request, {"status": "ok", "service": request.app.state.settings.service_name})


@router.get("/users")
async def users(request: Request) -> Response:
    delay_ms = request.app.state.settings.db_latency_ms
    log.debug("querying users table (simulated, %d ms)", delay_ms)
    started = time.perf_counter_ns()
    await asyncio.sleep(delay_ms / 1000)  # the "database": the loop serves others meanwhile
    log.info(
        "fetched %d users from db",
        len(USERS),
        extra={"event.action": "db_query", "event.duration": time.perf_counter_ns() - started},
    )
    return ok(request, USERS)


@router.get("/names")
async def names(request: Request) -> Response:
    log.info("listing %d names", len(NAMES))
    return ok(request, NAMES)


@router.get("/context")
async def context(
    request: Request,
    tracking_id: Annotated[str | None, Depends(get_tracking_id)],
    trace: Annotated[TraceContext | None, Depends(get_trace)],
) -> Response:
    log.info("tracking ID %s injected", tracking_id)
    return ok(
        request,
        {"tracking_id": tracking_id, "trace_id": trace.trace_id if trace else None},
    )


@router.get("/item")
def item(request: Request, sku: str = "sku-1") -> Response:
    # A plain def: Starlette runs it in its thread pool (anyio.to_thread copies the context).
    sku = sku[:64]
    log.debug(
        "building item %s", sku, extra={"process.thread.name": threading.current_thread().name}
    )
    return ok(
        request,
        {
            "sku": sku,
            "name": f"Item {sku}",
            "price": 9.99,
            "updated_at": datetime.now().astimezone().isoformat(),
        },
    )


@router.get("/error")
async def fail(detail: str = "card processor unavailable") -> Response:
    log.info("about to fail on purpose")
    raise RuntimeError(f"simulated failure: {detail[:256]}")


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None if it is longer than ``limit`` bytes (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return body


@router.post("/login", openapi_extra={"requestBody": LOGIN_SCHEMA})
async def login(request: Request) -> Response:
    raw = await _read_capped(request, request.app.state.settings.max_body_bytes)
    if raw is None:
        return error(request, 413, "Request Entity Too Large")
    try:
        credentials = json.loads(raw)
    except ValueError:
        credentials = None
    if (
        not isinstance(credentials, dict)
        or not isinstance(credentials.get("username"), str)
        or not isinstance(credentials.get("password"), str)
    ):
        log.warning('login rejected: body is not {"username": str, "password": str}')
        return error(request, 400, 'expected a JSON object {"username": str, "password": str}')
    username = credentials["username"][:64]
    log.info("login succeeded for user %s", username, extra={"user.name": username})
    return ok(request, {"username": username, "token": f"fake-{uuid.uuid4().hex}"})


@router.get("/slow")
async def slow(request: Request, ms: Annotated[str, Query()] = "500") -> Response:
    if not ms.isdigit() or int(ms) > MAX_SLOW_MS:
        return error(request, 400, f"ms must be a whole number from 0 to {MAX_SLOW_MS}")
    log.info("sleeping %s ms", ms)
    await asyncio.sleep(int(ms) / 1000)
    return ok(request, {"slept_ms": int(ms)})


@router.get("/orders/{order_id}")
async def order(request: Request, order_id: str) -> Response:
    if not ORDER_ID.fullmatch(order_id):
        return error(request, 400, "order id must be 1-64 characters of [A-Za-z0-9-]")
    client: httpx.AsyncClient = request.app.state.downstream
    log.info("looking up order %s", order_id)
    # trackstack's transport adds X-Tracking-ID and a child traceparent and logs one
    # dependency_call line; a failure or non-2xx becomes this request's 500.
    response = await client.get(
        "/api/item", params={"sku": f"sku-{order_id}"}, headers=faults.forwarded(request)
    )
    response.raise_for_status()
    return ok(
        request,
        {"order_id": order_id, "status": "shipped", "item": response.json().get("data")},
    )


@router.post("/jobs", status_code=202)
async def start_job(request: Request, background: BackgroundTasks) -> Response:
    job_id = uuid.uuid4().hex[:12]
    steps = random.randint(2, 4)  # noqa: S311
    # Starlette runs the task after the response is sent, still inside trackstack's
    # middleware call, in this request's context: its lines keep this request's tracking_id
    # without passing it (the seed passed it because BaseHTTPMiddleware had reset it).
    background.add_task(_run_job, job_id, steps)
    log.info("queued job %s with %d steps", job_id, steps, extra={"labels.job_id": job_id})
    return ok(request, {"job_id": job_id, "steps": steps}, status=202)


async def _run_job(job_id: str, steps: int) -> None:
    try:
        for step in range(1, steps + 1):
            await asyncio.sleep(0.05)
            log.info(
                "job %s step %d/%d done",
                job_id,
                step,
                steps,
                extra={"event.action": "job_step", "labels.job_id": job_id},
            )
        log.info(
            "job %s finished",
            job_id,
            extra={"event.action": "job_finished", "labels.job_id": job_id},
        )
    except Exception:
        log.exception("job %s failed", job_id, extra={"labels.job_id": job_id})
