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
import re
import time

from flask import Flask, current_app, has_request_context, request

log = logging.getLogger(__name__)
MAX_LATENCY_MS = 30_000
# Only a well-formed targeted fault travels on: a client's raw header never reaches another hop.
TARGETED = re.compile(r"(error|latency=\d{1,6})@([a-z0-9._-]{1,64})")


class InjectedFault(RuntimeError):
    """Raised on purpose; the 500 it causes is part of the demo."""


def _requested() -> tuple[bool, int]:
    """(error?, latency ms) that this request's X-Fault header asks of this service."""
    header, _, target = request.headers.get("X-Fault", "").strip().lower().partition("@")
    if target and target != current_app.config["SETTINGS"].service_name.lower():
        return False, 0
    if header == "error":
        return True, 0
    if header.startswith("latency="):
        value = header.removeprefix("latency=")
        if value.isdigit():
            return False, min(int(value), MAX_LATENCY_MS)
    return False, 0


def _before() -> None:
    if request.path == "/api/health":
        return
    settings = current_app.config["SETTINGS"]
    want_error, latency_ms = _requested()
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
    aimed = TARGETED.fullmatch(request.headers.get("X-Fault", "").strip().lower())
    if not aimed or aimed[2] == current_app.config["SETTINGS"].service_name.lower():
        return {}
    return {"X-Fault": aimed[0]}


def init_app(app: Flask) -> None:
    app.before_request(_before)
