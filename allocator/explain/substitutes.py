"""Why a short order did not take its substitute although that product had stock.

For a short order o with substitutes (substitutes.csv), a substitute p with a whole rack
left in stock in a period t of its window W(o,p) could have gone to o. One more rack of p
shipped at t lowers p's stock from t on, so unless the stock stays at one rack or more to
the horizon, a shipment of p in (t, u] must give way, u the first later period with less
than a rack in stock. What o gains at t, against what that costs:

    gain(t) = value(o,p,t) - min over those shipments s of value(s) + h(p) * (t_s - t)

value = pi + m - k * (ship period - requested period), plus the shortfall penalty times
the shortfall the rack removes (o's customer) or adds (s's customer, at its committed
fill); h(p) is the holding cost the earlier shipment saves; a shipment that would take a
deal below its minimum cannot give way. The reason names the period with the largest
gain. Gain <= 0: the stock is kept for later shipments worth at least as much (the
cheapest named: a marginal value would not do, the base_racks dual is one-sided where
stock is degenerate), or the rack is worth nothing to o by then. Gain > 0: another limit
holds o back: its region's power, the third-party share cap or its rejected deal; where
none does, the plan is within its MIP gap of a better one and the reason says so.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from allocator.explain.facts import SHORT_TOLERANCE, ShortageFacts
from allocator.explain.reasons import Reason
from allocator.formats import racks_text


class _Chance(NamedTuple):
    """A period where the order could have taken a rack of its substitute."""

    period: int
    racks_left: float
    value: float
    gain: float
    giving_way: pd.Series | None
    """The cheapest shipment that would give way (None: the stock lasts to the horizon)."""


def substitute_reasons(facts: ShortageFacts, customer: str) -> list[Reason]:
    """``substitute_passed`` for each short order of the customer whose substitute had
    a rack left in stock in its window (none without substitutes)."""
    instance = facts.instance
    if not instance.has_substitutes:
        return []
    rows = facts.orders_of(customer)
    if not len(rows):
        return []
    options = instance.ship_options
    reasons: list[Reason] = []
    for row in rows:
        order = facts.order(row)
        chosen = options[(options["order"] == order["order"]) & options["is_substitute"]]
        for option_row, option in chosen.iterrows():
            reason = _passed(facts, order, int(option_row), option)
            if reason is not None:
                reasons.append(reason)
    return reasons


def _passed(
    facts: ShortageFacts, order: dict[str, Any], option_row: int, option: pd.Series
) -> Reason | None:
    product = str(option["product"])
    chances = _chances(facts, order, option_row, product, option)
    if not chances:
        return None
    best = max(chances, key=lambda chance: chance.gain)
    head = (
        f"its substitute {product} had {racks_text(best.racks_left)} left in stock in "
        f"{facts.label(best.period)} ({racks_text(float(order['short']))} of {order['order']} "
        f"unserved, a rack of {product} worth {facts.money(best.value)} to it): "
    )
    if best.gain <= _tolerance(best.value):
        if best.giving_way is not None and float(best.giving_way["value"]) >= best.value:
            way = best.giving_way
            detail = (
                f"that stock is kept for orders that value it more: {way['order']} takes "
                f"it in {facts.label(way['ship_period'])} at {facts.money(way['value'])}"
            )
            figure = float(way["value"])
        else:
            detail = "it is worth nothing to the order by then (its delay penalty)"
            figure = best.value
    else:
        detail = _other_limit(facts, order, product, best)
        figure = best.gain
    return Reason("substitute_passed", head + detail, figure, float(order["short"]))


def _chances(
    facts: ShortageFacts, order: dict[str, Any], option_row: int, product: str, option: pd.Series
) -> list[_Chance]:
    """Every period of W(o,p) with a whole rack of p in stock, with the order's gain."""
    first, last = int(option["first_ship"]), int(option["last_ship"])
    if first > last:
        return []
    instance = facts.instance
    horizon = np.arange(1, instance.periods + 1)
    stock = facts.periods.reindex(pd.MultiIndex.from_arrays([[product] * len(horizon), horizon]))
    stock_by_period = stock["stock"].to_numpy(dtype=float)
    whole = stock_by_period >= 1.0 - SHORT_TOLERANCE
    window = np.arange(first, last + 1)
    window = window[whole[window - 1]]
    if not len(window):
        return []
    penalty = float(instance.policy.internal_shortfall_penalty) * float(order["penalty_racks"])
    values = instance.rack_value(np.full(len(window), option_row), window) + penalty
    holding = _product_number(facts, product, "holding_cost")
    later = _shipments_that_could_give_way(facts, product)
    chances = []
    for period, value in zip(window.tolist(), values.tolist(), strict=True):
        runs_out = np.flatnonzero(~whole[period:])
        if not len(runs_out):
            saved = holding * (instance.periods - period + 1)
            chances.append(_Chance(period, stock_by_period[period - 1], value, value + saved, None))
            continue
        until = period + 1 + int(runs_out[0])
        ships = later[(later["ship_period"] > period) & (later["ship_period"] <= until)]
        if not len(ships):
            continue
        cost = (ships["value"] - holding * (ships["ship_period"] - period)).to_numpy(dtype=float)
        cheapest = ships.iloc[int(np.argmin(cost))]
        gain = value - float(cost.min())
        chances.append(_Chance(period, stock_by_period[period - 1], value, gain, cheapest))
    return chances


def _shipments_that_could_give_way(facts: ShortageFacts, product: str) -> pd.DataFrame:
    """The plan's shipments of ``product`` (order rows merged) with what a rack of each is
    worth to its order: its rack value plus the shortfall penalty one rack less would add
    to its internal customer; shipments that would take an accepted deal below its
    minimum are left out (they cannot give a rack way)."""
    allocation = facts.allocation
    ships = allocation[(allocation["product"] == product) & (allocation["racks"] > 0)]
    if not len(ships):
        return ships.assign(value=pd.Series(dtype=float))
    instance = facts.instance
    rows = instance.option_rows(ships["order"], ships["product"])
    values = instance.rack_value(rows, ships["ship_period"].to_numpy())
    customers = facts.customers
    customer = ships["customer"]
    allocated = customer.map(customers["allocated"]).astype(float)
    need = customer.map(customers["min_fill"] * customers["requested"]).astype(float)
    shortfall_added = (need - (allocated - 1.0)).clip(lower=0.0) - (need - allocated).clip(
        lower=0.0
    )
    internal = customer.map(customers["segment"]) == "internal"
    penalty = float(instance.policy.internal_shortfall_penalty)
    values = values + np.where(internal, penalty * shortfall_added, 0.0)
    minimum = customer.map(facts.min_contract).astype(float)
    holds_deal = ~internal & (allocated - 1.0 < minimum - SHORT_TOLERANCE)
    return ships.assign(value=values)[~holds_deal.to_numpy()]


def _other_limit(facts: ShortageFacts, order: dict[str, Any], product: str, best: _Chance) -> str:
    """Which limit of the order holds it back, where the rack would gain."""
    customer, region = str(order["customer"]), str(order["region"])
    rack_kw = _product_number(facts, product, "power_kw")
    rows = facts.region_power.get(region)
    if rows is not None and rack_kw > 0:
        later = rows.period >= best.period
        full = np.flatnonzero(later & (rows.limit_kw - rows.used_kw < rack_kw - 1e-9))
        if len(full):
            at = full[0]
            return (
                f"its region's power is full: {region} has used {rows.used_kw[at]:,.0f} of "
                f"{rows.limit_kw[at]:,.0f} kW by {facts.label(rows.period[at])}, a rack of "
                f"{product} draws {rack_kw:,.0f} kW"
            )
    if facts.segments.get(customer) == "third_party":
        if facts.is_rejected(customer):
            return "its deal is not accepted (see the reason about its minimum size)"
        share = float(facts.instance.policy.third_party_max_share)
        slack = share * facts.shipped_racks - facts.third_party_racks
        if share < 1.0 and slack / (1.0 - share) < 1.0 - 1e-9:
            return "the third-party share cap is binding (see its reason)"
    return (
        f"no limit found: the plan is within its MIP gap, and a rack of {product} there "
        f"would gain about {facts.money(best.gain)}"
    )


def _product_number(facts: ShortageFacts, product: str, column: str) -> float:
    products = facts.instance.products
    return float(products.loc[products["product"] == product, column].iloc[0])


def _tolerance(value: float) -> float:
    return 1e-6 + 1e-9 * abs(value)
