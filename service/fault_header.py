"""The X-Fault header's rule, framework-free, so both demo apps read it the same way: the
Flask service (service/faults.py) and the FastAPI orders (orders/faults.py).

``X-Fault: error`` or ``X-Fault: latency=<ms>`` (at most MAX_LATENCY_MS), optionally aimed
``@<service.name>``: a fault aimed at another service is not this one's, and only a
well-formed aimed fault travels on in outbound calls.
"""

from __future__ import annotations

import re

MAX_LATENCY_MS = 30_000
# Only a well-formed targeted fault travels on: a client's raw header never reaches another hop.
TARGETED = re.compile(r"(error|latency=\d{1,6})@([a-z0-9._-]{1,64})")


class InjectedFault(RuntimeError):
    """Raised on purpose; the 500 it causes is part of the demo."""


def requested(header: str, service_name: str) -> tuple[bool, int]:
    """(error?, latency ms) that an X-Fault header value asks of the service ``service_name``."""
    fault, _, target = header.strip().lower().partition("@")
    if target and target != service_name.lower():
        return False, 0
    if fault == "error":
        return True, 0
    if fault.startswith("latency="):
        value = fault.removeprefix("latency=")
        if value.isdigit():
            return False, min(int(value), MAX_LATENCY_MS)
    return False, 0


def forwarded(header: str, service_name: str) -> dict[str, str]:
    """The X-Fault header for an outbound call: a fault aimed at another service, else none."""
    aimed = TARGETED.fullmatch(header.strip().lower())
    if not aimed or aimed[2] == service_name.lower():
        return {}
    return {"X-Fault": aimed[0]}
