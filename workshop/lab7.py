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


def _spelled(code: str) -> str:
    """A pattern for ``code`` in any case-folded separator: LEGACY-4821, LEGACY 4821,
    LEGACY_4821 and LEGACY4821 (the answer is upper-cased first)."""
    return r"[\s_-]*".join(map(re.escape, re.findall(r"[A-Z0-9]+", code.upper())))


def _is(given: str, code: str) -> bool:
    """``given`` is ``code``, give or take separators and punctuation around it."""
    return re.fullmatch(_spelled(code), given.strip(" '\"`.,;:!?()[]{}<>=~_-")) is not None


def check(expected: Mapping[str, Any], answer: str, count: Count) -> Verdict:
    values = parse_fields(answer, ["coupon"])
    given = values.get("coupon", "").upper()
    if not given:
        return Verdict(False, "the answer needs the coupon", f"answer as: {ANSWER_FORM}")
    want = expected["coupon"].upper()
    if _is(given, want):
        return Verdict(
            True,
            f"{want}: a coupon from before the migration, whose rule has no 'percent'; only the"
            " failed request's DEBUG lines said so",
        )
    # Answer files from before "others" was kept: the decoys' coupons were ORDINARY_COUPONS.
    others = expected.get("others", [c for c in ORDINARY_COUPONS if c])
    if any(_is(given, other) for other in others):
        return Verdict(
            False,
            f"{given} is an ordinary coupon that other checkouts used without failing",
            "filter on the customer's tracking_id, then read its DEBUG lines (log.level: debug),"
            " not the whole minute's",
        )
    # The code among other words: "LEGACY 4821 (from the DEBUG line)".
    if re.search(rf"\b{_spelled(want)}\b", given):
        return Verdict(
            False,
            f"{given} says more than the coupon code",
            f"answer with the code alone, as the DEBUG line writes it: {ANSWER_FORM}",
        )
    # Only the ERROR line's own words (KeyError: 'percent'), not any answer that has one.
    if re.fullmatch(r"(?:KEYERROR|PERCENT|[\s:'\"`()])+", given):
        return Verdict(
            False,
            "that is what the ERROR line says, not which coupon caused it",
            "read the request's DEBUG lines (log.level: debug; written after its ERROR line,"
            " just before its access line): one names the coupon",
        )
    tracking_id = expected.get("tracking_id", "<ID>")
    # Whole groups of the code, not all of them ("4821" or "LEGACY" for LEGACY-4821): right,
    # but not all of it. "LEGACY-482" is no group of it: a wrong code.
    groups, mine = re.findall(r"[A-Z0-9]+", want), re.findall(r"[A-Z0-9]+", given)
    if 0 < len(mine) < len(groups) and any(
        groups[i : i + len(mine)] == mine for i in range(len(groups) - len(mine) + 1)
    ):
        return Verdict(
            False,
            f"{given} is part of the coupon, not the whole code",
            f"copy the whole code from the DEBUG line of tracking_id:{tracking_id}"
            " ('coupon … resolved to rule …')",
        )
    return Verdict(
        False,
        f"{given} is not the coupon this customer's cart carried",
        f"search tracking_id:{tracking_id} AND log.level:debug: the line"
        " 'coupon … resolved to rule …'",
    )
