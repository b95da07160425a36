"""Why a short order did not take its substitute although that product had stock.

For every short order with substitutes (substitutes.csv), each substitute product p with
racks left in stock in some period of its window W(o,p) is a rack the plan chose not to
ship to the order. The reason says where (the first such period), how much was in stock,
what a rack of p is worth to the order there (pi(o,p) + m(o,p) - k(o)(t - r(o)), plus the
shortfall penalty while its customer is short of its committed fill), and why: the stock
is kept for later shipments of p that are worth at least as much (the cheapest named: a
marginal value would not do, it is one-sided where the stock is degenerate); or the
rack is worth nothing to the order by then; or another limit of the order (region power,
the share cap, its deal) holds it back, which the customer's other reasons name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.explain.facts import SHORT_TOLERANCE, ShortageFacts
from allocator.explain.reasons import Reason
from allocator.formats import racks_text


def substitute_reasons(facts: ShortageFacts, customer: str) -> list[Reason]:
    """``substitute_passed`` for each short order of the customer whose substitute had
    stock left in its window (none without substitutes)."""
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


def _passed(facts: ShortageFacts, order: dict, option_row: int, option: pd.Series) -> Reason | None:
    first, last = int(option["first_ship"]), int(option["last_ship"])
    if first > last:
        return None
    product = str(option["product"])
    periods = np.arange(first, last + 1)
    table = facts.periods.reindex(pd.MultiIndex.from_arrays([[product] * len(periods), periods]))
    stock = table["stock"].to_numpy(dtype=float)
    in_stock = np.flatnonzero(stock > SHORT_TOLERANCE)
    if not len(in_stock):
        return None
    instance = facts.instance
    period, racks_left = int(periods[in_stock[0]]), float(stock[in_stock[0]])
    penalty = float(instance.policy.internal_shortfall_penalty) if order["below_fill"] else 0.0
    value = float(instance.rack_value(np.array([option_row]), np.array([period]))[0]) + penalty
    head = (
        f"its substitute {product} had {racks_text(racks_left)} left in stock in "
        f"{facts.label(period)} ({racks_text(float(order['short']))} of {order['order']} "
        f"unserved, a rack of {product} worth {facts.money(value)} to it): "
    )
    later = _later_uses(facts, product, period)
    if len(later) and float(later["value"].min()) >= value - 1e-6 - 1e-9 * abs(value):
        cheapest = later.iloc[int(np.argmin(later["value"].to_numpy()))]
        detail = (
            f"that stock is kept for orders that value it more: {cheapest['order']} takes "
            f"it in {facts.label(cheapest['ship_period'])} at {facts.money(cheapest['value'])}"
        )
        figure = float(cheapest["value"])
    elif value <= 0:
        detail = "it is worth nothing to the order by then (its delay penalty)"
        figure = value
    else:
        detail = "another limit of the order holds it back (see its other reasons)"
        figure = value
    return Reason("substitute_passed", head + detail, figure, float(order["short"]))


def _later_uses(facts: ShortageFacts, product: str, period: int) -> pd.DataFrame:
    """The plan's shipments of ``product`` after ``period`` (where the stock goes), with
    their value per rack."""
    allocation = facts.allocation
    later = allocation[(allocation["product"] == product) & (allocation["ship_period"] > period)]
    instance = facts.instance
    rows = instance.option_rows(later["order"], later["product"])
    values = instance.rack_value(rows, later["ship_period"].to_numpy())
    return later.assign(value=values)
