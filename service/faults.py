"""Fault injection for demos: errors and latency, globally or for one request.

Global: ``FAULT_ERROR_RATE`` (0..1) and ``FAULT_LATENCY_MS``. One request: header
``X-Fault: error`` or ``X-Fault: latency=<ms>``. ``X-Fault: <fault>@<service.name>`` aims the
fault at one service of the call chain: the others pass the header on in their outbound
calls and do not fault (so a demo can make the *dependency* slow, not the caller). Every
injected fault logs a WARNING with ``event.action: fault_injected`` and ``labels.fault``, so a
demo can tell it from a real one. ``/api/health`` is never faulted: probes must stay honest.
"""

from __future__ import annotations

import logging
import random
import time

from flask import Flask, current_app, has_request_context, request

from service import fault_header
from service.fault_header import InjectedFault

log = logging.getLogger(__name__)
__all__ = ["InjectedFault", "forwarded", "init_app"]


def _before() -> None:
    if request.path == "/api/health":
        return
    settings = current_app.config["SETTINGS"]
    header = request.environ.get("HTTP_X_FAULT")  # PEP 3333's name for X-Fault
    if header is None and not settings.fault_latency_ms and not settings.fault_error_rate:
        return  # nothing asked, nothing configured: the usual request
    want_error, latency_ms = fault_header.requested(header or "", settings.service_name)
    latency_ms = latency_ms or settings.fault_latency_ms
    if latency_ms:
        log.warning(
            "injected %d ms latency",
            latency_ms,
            extra={"event.action": "fault_injected", "labels.fault": "latency"},
        )
        time.sleep(latency_ms / 1000)
    if want_error or (settings.fault_error_rate and random.random() < settings.fault_error_rate):  # noqa: S311
        log.warning(
            "injecting an error", extra={"event.action": "fault_injected", "labels.fault": "error"}
        )
        raise InjectedFault(f"injected fault on {request.method} {request.path}")


def forwarded() -> dict[str, str]:
    """The X-Fault header for an outbound call: a fault aimed at another service, else none."""
    if not has_request_context():
        return {}
    service_name = current_app.config["SETTINGS"].service_name
    return fault_header.forwarded(request.headers.get("X-Fault", ""), service_name)


def init_app(app: Flask) -> None:
    app.before_request(_before)
