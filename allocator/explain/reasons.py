"""The reasons of a short customer: which hold for it, and each one's text and number.

The order-level reasons come from classifying its short orders (`order_findings`, one
builder per finding, reported in `ORDER_REASONS` order); the third-party reasons are
checked per customer (`customer_reasons`); `unexplained` is the reason of a short
customer none of them explains. What each reason means is listed in
`allocator.explain.why`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocator.explain.facts import ShortageFacts, value_tolerance
from allocator.formats import format_racks, racks_text


@dataclass(frozen=True)
class Reason:
    """One reason a customer is short. ``figure`` is the number the reason rests on
    (a marginal value, a slack, a cost), ``racks`` the unserved racks it covers."""

    code: str
    text: str
    figure: float
    racks: float


# --- per order -----------------------------------------------------------------------


ORDER_REASONS = ("no_supply", "outbid", "used_up", "surplus_dear", "next_in_line", "blocked")
"""Order-level findings in the order they are reported."""

OrderFindings = dict[str, dict[str, np.ndarray]]
"""Per order-level finding, per customer, the positions in ``orders`` of the short orders
it holds for (only customers with at least one)."""


def order_findings(facts: ShortageFacts) -> OrderFindings:
    """Which short orders of each customer every order-level finding holds for."""
    return {
        finding: facts.rows_by_customer(holds.to_numpy(dtype=bool))
        for finding, holds in _classify(facts.orders, facts.has_duals).items()
    }


def _classify(orders: pd.DataFrame, has_duals: bool) -> dict[str, pd.Series]:
    """Which short orders each order-level reason holds for: ``no_supply``; else
    ``outbid`` (every rack strictly worth more elsewhere); else ``used_up``; else
    ``surplus_dear``; else ``next_in_line`` (partly served, unit value equal to the
    marginal value). ``blocked`` (region power) for any order with supply."""
    tolerance = value_tolerance(orders["gap_value"].fillna(0.0))
    supplied = ~orders["no_supply"]
    outbid = supplied & has_duals & (orders["gap"] < -tolerance)
    rest = supplied & ~outbid
    used_up = rest & orders["used_up"]
    rest &= ~orders["used_up"]
    dear = rest & orders["surplus_dear"]
    rest &= ~orders["surplus_dear"]
    tie = rest & has_duals & (orders["gap"].abs() <= tolerance) & (orders["shipped"] > 0)
    return {
        "no_supply": orders["no_supply"],
        "outbid": outbid,
        "used_up": used_up,
        "surplus_dear": dear,
        "next_in_line": tie,
        "blocked": supplied & orders["block_period"].notna(),
    }


def order_reasons(facts: ShortageFacts, findings: OrderFindings, customer: str) -> list[Reason]:
    """The order-level reasons of a customer, each over the short orders it holds for."""
    builders = {
        "no_supply": _no_supply,
        "outbid": _outbid,
        "used_up": _used_up,
        "surplus_dear": _surplus_cost,
        "next_in_line": _next_in_line,
        "blocked": _region_power,
    }
    reasons = []
    for finding in ORDER_REASONS:
        rows = findings[finding].get(customer)
        if rows is not None:
            reasons.append(builders[finding](facts, rows))
    return reasons


def _headline(text: str, facts: ShortageFacts, rows: np.ndarray) -> str:
    return f"{text} ({racks_text(facts.short_racks(rows))}): "


def _no_supply(facts: ShortageFacts, rows: np.ndarray) -> Reason:
    order = facts.order(rows[0])
    product, last = str(order["product"]), int(order["last_ship"])
    if order["window_length"] == 0:
        available = int(facts.available_from[product])
        detail = (
            f"{product} ships from {facts.label(available)}, after the window of "
            f"{order['order']} closes in {facts.label(last)}"
        )
    else:
        detail = f"0 racks of {product} can be made or held by {facts.label(last)}"
    text = _headline("no supply in its delivery window", facts, rows) + detail
    return Reason("no_supply", text, 0.0, facts.short_racks(rows))


def _used_up(facts: ShortageFacts, rows: np.ndarray) -> Reason:
    order = facts.order(rows[0])
    detail = (
        f"no {order['product']} rack is left in stock in its window and no more surplus can "
        f"be made by {facts.label(order['last_ship'])}; "
        f"{format_racks(order['shipped_by_last'])} racks are shipped by then, "
        f"{format_racks(order['own_by_last'])} of them to it"
    )
    text = _headline("no supply left in its delivery window", facts, rows) + detail
    return Reason("no_supply", text, 0.0, facts.short_racks(rows))


def _outbid(facts: ShortageFacts, rows: np.ndarray) -> Reason:
    """Reports the order that came closest to getting racks."""
    order = facts.order(_closest_call(facts, rows))
    detail = (
        f"one {order['product']} rack in {facts.label(order['gap_period'])} is worth "
        f"{facts.money(order['gap_dual'])} at the margin, {order['order']} earns "
        f"{facts.money(order['gap_value'])} per rack"
    )
    text = _headline("every rack in its window earns more elsewhere", facts, rows) + detail
    return Reason("outbid", text, float(order["gap_dual"]), facts.short_racks(rows))


def _closest_call(facts: ShortageFacts, rows: np.ndarray) -> int:
    """The order whose unit value came nearest to (or furthest above) its supply's."""
    return int(rows[np.argmax(facts.values("gap", rows))])


def _surplus_cost(facts: ShortageFacts, rows: np.ndarray) -> Reason:
    margin = facts.values("dear_value", rows) - facts.values("dear_cost", rows)
    order = facts.order(rows[np.argmax(margin)])
    detail = (
        f"no {order['product']} rack is left in stock in its window, and one more surplus "
        f"rack for {facts.label(order['dear_period'])} costs "
        f"{facts.money(order['dear_cost'])} (surplus cost and holding), {order['order']} "
        f"earns {facts.money(order['dear_value'])} per rack"
    )
    text = _headline("more surplus costs more than it earns", facts, rows) + detail
    return Reason("surplus_cost", text, float(order["dear_cost"]), facts.short_racks(rows))


def _next_in_line(facts: ShortageFacts, rows: np.ndarray) -> Reason:
    order = facts.order(rows[0])
    detail = (
        f"one more {order['product']} rack in {facts.label(order['gap_period'])} is worth "
        f"{facts.money(order['gap_dual'])} at the margin, what {order['order']} earns per rack"
    )
    text = _headline("next in line for more supply", facts, rows) + detail
    return Reason("next_in_line", text, float(order["gap_dual"]), facts.short_racks(rows))


def _region_power(facts: ShortageFacts, rows: np.ndarray) -> Reason:
    order = facts.order(rows[0])
    slack = float(order["block_limit_kw"] - order["block_used_kw"])
    detail = (
        f"{order['region']} has used {order['block_used_kw']:,.0f} of "
        f"{order['block_limit_kw']:,.0f} kW by {facts.label(order['block_period'])} (slack "
        f"{slack:,.0f} kW, one {order['product']} rack draws {order['rack_kw']:,.0f} kW)"
    )
    figure = slack
    if facts.has_duals:
        figure = float(order["power_value"])
        detail += (
            f"; one more kW there from {facts.label(order['first_ship'])} on is worth "
            f"{facts.money(figure)}"
        )
    text = _headline("its region's power is full", facts, rows) + detail
    return Reason("region_power", text, figure, facts.short_racks(rows))


# --- per customer --------------------------------------------------------------------


def customer_reasons(facts: ShortageFacts, customer: str) -> list[Reason]:
    """The per-customer reasons (``share_cap``, ``deal_not_worth``) of a third party."""
    if facts.segments[customer] != "third_party":
        return []
    reasons = [_share_cap(facts, customer), _deal_not_worth(facts, customer)]
    return [reason for reason in reasons if reason is not None]


def _share_cap(facts: ShortageFacts, customer: str) -> Reason | None:
    """Constraint 6's slack share * all racks - third-party racks; binding for this
    customer when the room it leaves, slack / (1 - share) racks, is less than one rack
    (its minimum deal when the deal was rejected)."""
    share = float(facts.instance.policy.third_party_max_share)
    if share >= 1.0:
        return None
    total, third_party = facts.shipped_racks, facts.third_party_racks
    slack = share * total - third_party
    needed = 1.0
    if facts.is_rejected(customer):
        needed = max(1.0, facts.min_contract_racks(customer))
    if slack / (1.0 - share) >= needed - 1e-9:
        return None
    racks = facts.waiting(customer)
    shipped_share = third_party / total if total else 0.0
    text = (
        f"the third-party share cap is binding ({racks_text(racks)}): third parties "
        f"get {format_racks(third_party)} of {format_racks(total)} racks shipped "
        f"({shipped_share:.1%}, cap {share:.1%}), slack {slack:,.2f} racks"
    )
    return Reason("share_cap", text, slack, racks)


def _deal_not_worth(facts: ShortageFacts, customer: str) -> Reason | None:
    """A rejected deal whose minimum size cannot be supplied in its windows, or whose
    best possible contribution (its racks' unit values over the marginal value of the
    supply they take, at least its minimum size) does not pay its onboarding cost."""
    if not facts.is_rejected(customer):
        return None
    racks = facts.waiting(customer)
    min_contract = facts.min_contract_racks(customer)
    suppliable = facts.suppliable.get(customer, 0.0)
    if min_contract > suppliable + 1e-9:
        text = (
            f"its deal's minimum size cannot be supplied ({racks_text(racks)}): the "
            f"minimum deal is {format_racks(min_contract)} racks, at most "
            f"{format_racks(suppliable)} can be made or held in its windows"
        )
        return Reason("deal_not_worth", text, suppliable, racks)
    onboarding = facts.onboarding_cost(customer)
    best, positive = _best_deal_value(facts, facts.orders_of(customer), min_contract)
    if positive <= 0 or (onboarding <= 0 and min_contract <= positive):
        return None
    if best > onboarding + 1e-6 + 1e-9 * abs(onboarding):
        return None
    over = " over the marginal value of its supply" if facts.has_duals else ""
    text = (
        f"its deal's minimum size is not worth the onboarding cost ({format_racks(racks)} "
        f"racks): a deal of at least {racks_text(min_contract)} earns at most "
        f"{facts.money(best)}{over}, onboarding costs {facts.money(onboarding)}"
    )
    return Reason("deal_not_worth", text, best, racks)


def _best_deal_value(
    facts: ShortageFacts, rows: np.ndarray, min_contract: float
) -> tuple[float, float]:
    """The most a deal of at least ``min_contract`` racks earns over the marginal value of
    the supply it takes (each short order at ``rows`` at the best period of its window,
    ``gap``), and how many racks earn more than their supply."""
    gap = facts.values("gap", rows)
    served = ~np.isnan(gap)
    gap, short = gap[served], facts.values("short", rows)[served]
    best_first = _descending(gap)
    best = taken = positive = 0.0
    for net, racks in zip(gap[best_first].tolist(), short[best_first].tolist(), strict=True):
        if net > 0:
            positive += racks
        take = racks if net > 0 else max(0.0, min(racks, min_contract - taken))
        best += net * take
        taken += take
    return best, positive


def _descending(values: np.ndarray) -> np.ndarray:
    """The positions that sort ``values`` (no NaN) from largest to smallest, equal values
    in the order ``DataFrame.sort_values(ascending=False)`` leaves them (a quicksort of
    the reversed values, not stable), which fixes the order of the running sums."""
    reversed_positions = np.arange(len(values))[::-1]
    return reversed_positions[values[::-1].argsort(kind="quicksort")][::-1]


def unexplained(facts: ShortageFacts, customer: str) -> Reason:
    """``integrality``: the reason of a short customer no other reason explains."""
    racks = facts.waiting(customer)
    rows = facts.orders_of(customer)
    served = rows[~np.isnan(facts.values("gap", rows))]
    if not facts.has_duals or not len(served):
        text = (
            f"no single limit explains it ({racks_text(racks)}): the plan leaves "
            "supply, power and cap room for it (no marginal values to compare with)"
        )
        return Reason("integrality", text, math.nan, racks)
    order = facts.order(_closest_call(facts, served))
    text = (
        f"no single limit explains it ({racks_text(racks)}): in "
        f"{facts.label(order['gap_period'])} {order['order']} earns "
        f"{facts.money(order['gap'])} per rack more than the marginal value of a "
        f"{order['product']} rack ({facts.money(order['gap_dual'])}) and no cap, power limit "
        "or deal size binds; whole racks and all-or-nothing deals leave it short"
    )
    return Reason("integrality", text, float(order["gap"]), racks)
