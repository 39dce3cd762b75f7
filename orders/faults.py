"""Fault injection, the same contract as the Flask service's (service/fault_header.py): global
``FAULT_ERROR_RATE`` / ``FAULT_LATENCY_MS``, per request ``X-Fault: error`` or
``X-Fault: latency=<ms>``, optionally aimed ``@<service.name>``; ``/api/health`` is never
faulted. Here a FastAPI dependency of every route: latency is an ``asyncio.sleep``, so a slow
request never holds up the event loop's other requests.
"""

from __future__ import annotations

import asyncio
import logging
import random

from fastapi import Request

from service import fault_header
from service.fault_header import InjectedFault

log = logging.getLogger(__name__)


async def inject(request: Request) -> None:
    """Route dependency: sleeps and/or raises ``InjectedFault`` as asked."""
    if request.url.path == "/api/health":
        return
    settings = request.app.state.settings
    want_error, latency_ms = fault_header.requested(
        request.headers.get("X-Fault", ""), settings.service_name
    )
    latency_ms = latency_ms or settings.fault_latency_ms
    if latency_ms:
        log.warning(
            "injected %d ms latency",
            latency_ms,
            extra={"event.action": "fault_injected", "labels.fault": "latency"},
        )
        await asyncio.sleep(latency_ms / 1000)
    if want_error or (settings.fault_error_rate and random.random() < settings.fault_error_rate):  # noqa: S311
        log.warning(
            "injecting an error", extra={"event.action": "fault_injected", "labels.fault": "error"}
        )
        raise InjectedFault(f"injected fault on {request.method} {request.url.path}")


def forwarded(request: Request) -> dict[str, str]:
    """The X-Fault header for an outbound call: a fault aimed at another service, else none."""
    service_name = request.app.state.settings.service_name
    return fault_header.forwarded(request.headers.get("X-Fault", ""), service_name)
