"""The demo endpoints. Each one logs what a real handler would, so a trace has a story."""

from __future__ import annotations

import contextvars
import logging
import random
import re
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, current_app, request

from service import auth
from service.downstream import Downstream
from service.responses import error, ok
from trackstack import set_user, step

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")

USERS = [
    {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"},
    {"id": 2, "name": "Grace Hopper", "email": "grace@example.com"},
    {"id": 3, "name": "Linus Torvalds", "email": "linus@example.com"},
]
NAMES = ["alpha", "bravo", "charlie", "delta", "echo"]
ORDER_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
MAX_SLOW_MS = 10_000


@bp.get("/health")
def health() -> Any:
    return ok({"status": "ok", "service": current_app.config["SETTINGS"].service_name})


@bp.get("/users")
def users() -> Any:
    delay_ms = current_app.config["SETTINGS"].db_latency_ms
    log.debug("querying users table (simulated, %d ms)", delay_ms)
    with step("db.users", action="db_query"):
        time.sleep(delay_ms / 1000)  # the "database": yields to other greenlets like real I/O
    return ok(USERS)


@bp.get("/names")
def names() -> Any:
    log.info("listing %d names", len(NAMES))
    return ok(NAMES)


@bp.get("/item")
def item() -> Any:
    sku = request.args.get("sku", "sku-1")[:64]
    log.debug("building item %s", sku)
    return ok(
        {
            "sku": sku,
            "name": f"Item {sku}",
            "price": 9.99,
            "updated_at": datetime.now().astimezone().isoformat(),
        }
    )


MAX_ERROR_DEPTH = 400  # 2 frames a level: 800 + Flask's, under Python's recursion limit (1000)


@bp.get("/error")
def fail() -> Any:
    detail = request.args.get("detail", "card processor unavailable")[:256]
    depth = request.args.get("depth", "0")
    if not depth.isdigit() or int(depth) > MAX_ERROR_DEPTH:
        return error(400, f"depth must be a whole number from 0 to {MAX_ERROR_DEPTH}")
    log.debug("failing %s calls deep; the detail has %d characters", depth, len(detail))
    log.info("about to fail on purpose")
    _fail_deep(int(depth), detail)
    return ok(None)  # never reached


def _fail_deep(depth: int, detail: str) -> None:
    """Fails ``depth`` levels down: each level adds two frames, about 180 bytes, to the stack
    trace (two functions by turns, as Python folds a run of identical frames into one line)."""
    if depth <= 0:
        raise RuntimeError(f"simulated failure: {detail}")
    _fail_deeper(depth - 1, detail)


def _fail_deeper(depth: int, detail: str) -> None:
    _fail_deep(depth, detail)


@bp.post("/login")
def login() -> Any:
    credentials = request.get_json(silent=True)
    if (
        not isinstance(credentials, dict)
        or not isinstance(credentials.get("username"), str)
        or not isinstance(credentials.get("password"), str)
    ):
        log.warning('login rejected: body is not {"username": str, "password": str}')
        return error(400, 'expected a JSON object {"username": str, "password": str}')
    username = credentials["username"][:64]
    set_user(username)
    log.info("login succeeded for user %s", username, extra={"user.name": username})
    key = current_app.config["SETTINGS"].login_token_key
    return ok({"username": username, "token": auth.issue(key, username)})


# Coupons as the (simulated) coupon store returns them. Codes from before the 2024 migration
# ("LEGACY-<n>") still resolve, to the old rule shape: a fixed amount, no "percent". The
# checkout code below assumes the new shape: the workshop's lab 7 is that rare failure.
COUPONS = {"WELCOME10": {"percent": 10}, "SPRING5": {"percent": 5}, "VIP20": {"percent": 20}}
MAX_CHECKOUT_ITEMS = 50


def _coupon_rule(code: str) -> dict[str, int] | None:
    if code.startswith("LEGACY-") and code[7:].isdigit():
        return {"amount_cents": 500}
    return COUPONS.get(code)


@bp.post("/checkout")
def checkout() -> Any:
    """Body ``{"items": [{"sku": str, "qty": int}], "coupon": str | null}``; answers the total
    in cents. The cart's content and the coupon are written only in DEBUG lines."""
    cart = request.get_json(silent=True)
    items = cart.get("items") if isinstance(cart, dict) else None
    coupon = cart.get("coupon") if isinstance(cart, dict) else None
    if (
        not isinstance(items, list)
        or not 1 <= len(items) <= MAX_CHECKOUT_ITEMS
        or not all(
            isinstance(i, dict) and isinstance(i.get("sku"), str) and type(i.get("qty")) is int
            for i in items
        )
        or not (coupon is None or isinstance(coupon, str))
    ):
        return error(400, 'expected {"items": [{"sku": str, "qty": int}], "coupon": str|null}')
    log.info("checkout of %d items", len(items))
    subtotal = sum(999 * max(item["qty"], 0) for item in items)
    log.debug("cart subtotal %d cents, coupon %s", subtotal, coupon)
    total = subtotal
    if coupon is not None:
        rule = _coupon_rule(coupon[:32])
        if rule is None:
            return error(400, "unknown coupon")
        log.debug("coupon %s resolved to rule %s", coupon[:32], rule)
        total = subtotal - subtotal * rule["percent"] // 100
    return ok({"items": len(items), "total_cents": total})


@bp.get("/slow")
def slow() -> Any:
    raw = request.args.get("ms", "500")
    if not raw.isdigit() or int(raw) > MAX_SLOW_MS:
        return error(400, f"ms must be a whole number from 0 to {MAX_SLOW_MS}")
    log.debug("a %s ms sleep was asked for", raw)
    log.info("sleeping %s ms", raw)
    time.sleep(int(raw) / 1000)
    return ok({"slept_ms": int(raw)})


@bp.get("/orders/<order_id>")
def order(order_id: str) -> Any:
    if not ORDER_ID.fullmatch(order_id):
        return error(400, "order id must be 1-64 characters of [A-Za-z0-9-]")
    downstream: Downstream = current_app.extensions["trackstack.downstream"]
    log.info("looking up order %s", order_id)
    with step("downstream.item"):
        item_body = downstream.get_json("/api/item", params={"sku": f"sku-{order_id}"})
    return ok({"order_id": order_id, "status": "shipped", "item": item_body.get("data")})


@bp.post("/jobs")
def start_job() -> Any:
    job_id = uuid.uuid4().hex[:12]
    steps = random.randint(2, 4)  # noqa: S311
    # The job runs after the response is sent, in a copy of this request's context, so its
    # lines keep this request's tracking_id.
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(_run_job, job_id, steps), daemon=True).start()
    log.info("queued job %s with %d steps", job_id, steps, extra={"labels.job_id": job_id})
    return ok({"job_id": job_id, "steps": steps}, status=202)


def _run_job(job_id: str, steps: int) -> None:
    try:
        for step in range(1, steps + 1):
            time.sleep(0.05)
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


def _identify() -> None:
    """A request that sends a valid ``Authorization: Bearer <token>`` from /api/login has
    ``user.id`` on every later line and on its access line."""
    authorization = request.environ.get("HTTP_AUTHORIZATION")  # PEP 3333's name for it
    if authorization is None:
        return
    user = auth.user_of(authorization, current_app.config["SETTINGS"].login_token_key)
    if user is not None:
        set_user(user)


def init_app(app: Flask) -> None:
    settings = app.config["SETTINGS"]
    app.before_request(_identify)
    app.extensions["trackstack.downstream"] = Downstream(
        settings.downstream_url, settings.downstream_timeout_s
    )
    app.register_blueprint(bp)
