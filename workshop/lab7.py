"""Lab 7: a rare failure whose cause is only in DEBUG lines (workshop/lab7.md).

The service holds every request's DEBUG lines and writes them only when the request fails
(DEBUG_ON_FAILURE, on in both stacks). Forty checkouts go out with ordinary coupons; one
carries a coupon from before the migration (``LEGACY-<n>``) and fails with a bare
``KeyError: 'percent'``. The coupon is in the request body, which no INFO line or access
line records: only the failed request's released DEBUG lines name it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import partial
from typing import Any

from workshop.kit import Context, Count, Scenario, Verdict, parse_fields

TITLE = "a rare failure, explained by its DEBUG lines"
ANSWER_FORM = "coupon=<the coupon code>"
ORDINARY_COUPONS = ("WELCOME10", "SPRING5", "VIP20", None)


def _cart(ctx: Context, coupon: str | None) -> dict[str, Any]:
    items = [
        {"sku": f"sku-{ctx.rng.randint(1, 999)}", "qty": ctx.rng.randint(1, 3)}
        for _ in range(ctx.rng.randint(1, 4))
    ]
    return {"items": items, "coupon": coupon}


def create(ctx: Context) -> Scenario:
    coupon = f"LEGACY-{ctx.rng.randint(1000, 9999)}"
    carts = [_cart(ctx, ctx.rng.choice(ORDINARY_COUPONS)) for _ in range(40)]
    decoys = [partial(ctx.send, "POST", "/api/checkout", body=cart) for cart in carts]
    response = ctx.crowd(
        partial(ctx.send, "POST", "/api/checkout", body=_cart(ctx, coupon)), 8, decoys
    )
    body = response.json()
    tracking_id = body["tracking_id"]
    # checkout line, ERROR line, debug_released, 2 DEBUG lines, access line
    ctx.wait_for(tracking_id, 6)
    briefing = f"""A customer writes: "Checkout failed. The page showed this:
  {json.dumps(body, separators=(",", ":"))}"
Forty other checkouts in the same minute went through. The ERROR line says only
KeyError: 'percent'.

Which coupon code did this customer's cart carry? (The cart is in the request body: the
access line does not have it.)"""
    others = sorted({cart["coupon"] for cart in carts if cart["coupon"]})
    expected = {"tracking_id": tracking_id, "coupon": coupon, "others": others}
    return Scenario(
        briefing, {"tracking_id": tracking_id, "response": body}, expected, {"ID": tracking_id}
    )


def _code(text: str) -> str:
    """``LEGACY-4821``, ``legacy 4821`` and ``Legacy_4821`` alike: letters and digits."""
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def check(expected: Mapping[str, Any], answer: str, count: Count) -> Verdict:
    values = parse_fields(answer, ["coupon"])
    given = values.get("coupon", "").upper()
    if not given:
        return Verdict(False, "the answer needs the coupon", f"answer as: {ANSWER_FORM}")
    want = expected["coupon"].upper()
    if _code(given) == _code(want):
        return Verdict(
            True,
            f"{want}: a coupon from before the migration, whose rule has no 'percent'; only the"
            " failed request's DEBUG lines said so",
        )
    # Answer files from before "others" was kept: the decoys' coupons were ORDINARY_COUPONS.
    others = expected.get("others", [c for c in ORDINARY_COUPONS if c])
    if _code(given) in {_code(other) for other in others}:
        return Verdict(
            False,
            f"{given} is an ordinary coupon that other checkouts used without failing",
            "filter on the customer's tracking_id, then read its DEBUG lines (log.level: debug),"
            " not the whole minute's",
        )
    # The code in any separator, among other words: "LEGACY 4821 (from the DEBUG line)".
    spelled = r"[\s_-]*".join(map(re.escape, re.split(r"[\s_-]+", want)))
    if re.search(rf"\b{spelled}\b", given):
        return Verdict(
            False,
            f"{given} says more than the coupon code",
            f"answer with the code alone, as the DEBUG line writes it: {ANSWER_FORM}",
        )
    if "PERCENT" in given or "KEYERROR" in given:
        return Verdict(
            False,
            "that is what the ERROR line says, not which coupon caused it",
            "the request's DEBUG lines come just before its access line: one names the coupon",
        )
    return Verdict(
        False,
        f"{given} is not the coupon this customer's cart carried",
        "search tracking_id:<ID> AND log.level:debug: the line 'coupon … resolved to rule …'",
    )
