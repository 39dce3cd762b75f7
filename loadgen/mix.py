"""The traffic mix: one weighted table, the same one the README shows (a unit test compares).

Each row is one kind of request: which endpoint, how often (weight), where its tracking ID
comes from (the server picks one, the client picks a valid one, or the client sends an
invalid one the server must replace) and whether it asks for per-request DEBUG logging.
What Elasticsearch must then hold for each endpoint is in ``loadgen.expectations``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from setup.project import read_env_file, secrets_dir

IdSource = Literal["server", "client", "invalid"]

# Sent as the login password and inside /api/error's detail: the service must redact both.
SYNTHETIC_PASSWORD = "synthetic-Passw0rd"  # noqa: S105 - fake on purpose, shows redaction
# Client IDs the service must refuse (docs/DESIGN.md: 1-128 of [A-Za-z0-9._:-]): a space, too
# long, markup. All printable ASCII, so they travel in a header.
INVALID_IDS = ("not a valid id", "x" * 129, "<script>alert(1)</script>")


@dataclass(frozen=True)
class Endpoint:
    method: str
    route: str  # as people write it; the path prefix the verifier matches on
    expected_status: int
    shows: str


ENDPOINTS: dict[str, Endpoint] = {
    "health": Endpoint("GET", "/api/health", 200, "liveness"),
    "users": Endpoint("GET", "/api/users", 200, "a simulated 100 ms database call"),
    "names": Endpoint("GET", "/api/names", 200, "a plain read"),
    "item": Endpoint("GET", "/api/item?sku=", 200, "a plain read"),
    "orders": Endpoint("GET", "/api/orders/<id>", 200, "one tracking ID across two services"),
    "login": Endpoint("POST", "/api/login", 200, "a JSON body with a password (redacted)"),
    "error": Endpoint("GET", "/api/error?detail=", 500, "a 500 with a stack trace"),
    "slow": Endpoint("GET", "/api/slow?ms=", 200, "latency: sleeps 100-800 ms"),
    "jobs": Endpoint("POST", "/api/jobs", 202, "logs after the response (background job)"),
}


@dataclass(frozen=True)
class Entry:
    name: str
    weight: int
    endpoint: str
    tracking_id: IdSource = "server"
    debug: bool = False
    shows: str = ""  # what this row adds to its endpoint's story, if anything


# Weights add up to 100, so each is a percentage (of the rows a run sends).
MIX: tuple[Entry, ...] = (
    Entry("health", 10, "health"),
    Entry("users", 10, "users"),
    Entry("names", 8, "names"),
    Entry("item", 8, "item"),
    Entry("orders", 12, "orders"),
    Entry("orders-client-id", 10, "orders", "client", shows="the client's own ID, both services"),
    Entry("login", 6, "login"),
    Entry("error", 6, "error"),
    Entry("slow", 6, "slow"),
    Entry("jobs", 8, "jobs"),
    Entry("names-invalid-id", 8, "names", "invalid", shows="an invalid ID is replaced + WARNING"),
    Entry("users-debug", 8, "users", debug=True, shows="per-request DEBUG (needs the token)"),
)


@dataclass(frozen=True)
class Request:
    entry: Entry
    method: str
    path: str
    headers: dict[str, str]
    json_body: dict[str, Any] | None
    expected_status: int
    sent_id: str | None  # the X-Tracking-ID header we send, if any


def debug_token() -> str | None:
    """The service's DEBUG_LOG_TOKEN: the environment, else .secrets/service.env (where the
    native stack generates it); None turns the debug rows off."""
    return os.environ.get("DEBUG_LOG_TOKEN") or (
        read_env_file(secrets_dir() / "service.env").get("DEBUG_LOG_TOKEN") or None
    )


def only(names: Sequence[str], mix: Sequence[Entry] = MIX) -> tuple[Entry, ...]:
    """The rows of ``mix`` named in ``names`` (all of them when ``names`` is empty), in the
    mix's order and with their weights; ``ValueError`` names any unknown row.

    For runs that measure one part of the service (``make load ENTRIES=health``,
    ``bench.capacity --entries``); `make verify` checks each request against its own row.
    """
    known = {entry.name for entry in mix}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"unknown mix entries {', '.join(unknown)}; the mix has {', '.join(sorted(known))}"
        )
    return tuple(entry for entry in mix if not names or entry.name in names)


def enabled(token: str | None, mix: Sequence[Entry] = MIX) -> tuple[Entry, ...]:
    """The entries this run sends: debug rows need the service's DEBUG_LOG_TOKEN."""
    return tuple(entry for entry in mix if token or not entry.debug)


def pick(rng: random.Random, entries: Sequence[Entry]) -> Entry:
    return rng.choices(entries, weights=[entry.weight for entry in entries])[0]


# Request numbers per Locust worker (make load WORKERS=N): worker i numbers its requests
# i*SEQ_BLOCK + 1, + 2, ..., so seq and client-chosen IDs never collide across workers.
SEQ_BLOCK = 100_000_000


def client_id(run_id: str, seq: int) -> str:
    """A valid client-chosen ID, unique per run and request: findable by its run's prefix."""
    return f"lg-{run_id}-{seq:07d}"


def build(entry: Entry, seq: int, run_id: str, rng: random.Random, token: str | None) -> Request:
    """The concrete request for one row of the mix (``seq`` numbers requests within a run)."""
    endpoint = ENDPOINTS[entry.endpoint]
    body: dict[str, Any] | None = None
    match entry.endpoint:
        case "item":
            path = f"/api/item?sku=sku-{rng.randint(1, 999)}"
        case "orders":
            path = f"/api/orders/{rng.randint(1, 99_999)}"
        case "login":
            path = "/api/login"
            body = {"username": f"user{rng.randint(1, 50)}", "password": SYNTHETIC_PASSWORD}
        case "error":
            path = "/api/error?detail=" + quote(f"card declined, password={SYNTHETIC_PASSWORD}")
        case "slow":
            path = f"/api/slow?ms={rng.randrange(100, 801, 50)}"
        case _:
            path = endpoint.route
    headers: dict[str, str] = {}
    sent_id: str | None = None
    if entry.tracking_id == "client":
        sent_id = client_id(run_id, seq)
    elif entry.tracking_id == "invalid":
        sent_id = INVALID_IDS[seq % len(INVALID_IDS)]
    if sent_id is not None:
        headers["X-Tracking-ID"] = sent_id
    if entry.debug and token:
        headers |= {"X-Debug-Log": "1", "X-Debug-Token": token}
    return Request(entry, endpoint.method, path, headers, body, endpoint.expected_status, sent_id)


def markdown_table(mix: Sequence[Entry] = MIX) -> str:
    """The README's mix table, generated from MIX so the two cannot drift apart."""
    id_words = {"server": "server's", "client": "client's", "invalid": "invalid → replaced"}
    rows = [
        "| entry | weight | request | tracking ID | shows |",
        "|---|---:|---|---|---|",
    ]
    for entry in mix:
        endpoint = ENDPOINTS[entry.endpoint]
        request = f"`{endpoint.method} {endpoint.route}`" + (
            " + debug headers" if entry.debug else ""
        )
        rows.append(
            f"| `{entry.name}` | {entry.weight} | {request} "
            f"| {id_words[entry.tracking_id]} | {entry.shows or endpoint.shows} |"
        )
    return "\n".join(rows)
