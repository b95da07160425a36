"""Why a short customer is short under the lexicographic rule: tiers and fair share.

Under ``policy.priority_rule = "lexicographic"`` a customer of tier k is short because
of the rule itself when racks it could have taken went first to a higher tier, or, with
fair share, to a customer of its own tier held at the tier's lowest fill rate. Its
cells are the (product, ship period) pairs of its short orders' windows, every product
an order may take (substitutes too):

``higher_tier``
    customers of tiers before k got racks in its cells (the number: those racks).
``fair_share``
    a customer of its own tier at the tier's lowest fill rate F_k got racks in its cells:
    the fair-share hold keeps them there (the number: F_k).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.explain.facts import SHORT_TOLERANCE, ShortageFacts
from allocator.explain.reasons import Reason
from allocator.formats import racks_text
from allocator.plan.priority import MIN_FILL, ordered_racks, priority_stages, tier_of_customer


def priority_reasons(facts: ShortageFacts, customer: str) -> list[Reason]:
    """``higher_tier`` and ``fair_share`` for ``customer`` (none under the profit rule)."""
    instance = facts.instance
    if not instance.policy.is_lexicographic:
        return []
    rows = facts.orders_of(customer)
    if not len(rows):
        return []
    cells = _cells(facts, [str(facts.order(row)["order"]) for row in rows])
    if cells.empty:
        return []
    tiers = tier_of_customer(instance)
    tier = int(tiers[customer])
    allocation = facts.allocation
    shipped = allocation.merge(
        cells, left_on=["product", "ship_period"], right_on=["product", "period"]
    )
    shipped = shipped.assign(tier=shipped["customer"].map(tiers))
    waiting = facts.waiting(customer)
    reasons = []
    before = shipped[shipped["tier"] < tier]
    if len(before):
        racks = float(before["racks"].sum())
        first = sorted(set(before["tier"].astype(int).tolist()))
        products = ", ".join(sorted(set(before["product"].astype(str))))
        text = (
            f"higher tiers are served first ({racks_text(waiting)}): tier "
            f"{', '.join(map(str, first))} customers got {racks_text(racks)} of {products} "
            f"in its delivery windows (it is tier {tier}, lexicographic rule)"
        )
        reasons.append(Reason("higher_tier", text, racks, waiting))
    floor_reason = _fair_share(facts, customer, tier, shipped)
    if floor_reason is not None:
        reasons.append(floor_reason)
    return reasons


def _cells(facts: ShortageFacts, orders: list[str]) -> pd.DataFrame:
    """Every (product, period) in the windows of ``orders``, every product they may take."""
    options = facts.instance.ship_options
    chosen = options[options["order"].isin(orders)]
    cells = [
        (product, period)
        for product, first, last in zip(
            chosen["product"], chosen["first_ship"], chosen["last_ship"], strict=True
        )
        for period in range(int(first), int(last) + 1)
    ]
    return pd.DataFrame(sorted(set(cells)), columns=["product", "period"])


def _fair_share(
    facts: ShortageFacts, customer: str, tier: int, shipped: pd.DataFrame
) -> Reason | None:
    """A customer of the same tier at the tier's lowest fill rate got racks in its cells."""
    instance = facts.instance
    if not any(
        stage.tier == tier and stage.criterion == MIN_FILL for stage in priority_stages(instance)
    ):
        return None
    tiers = tier_of_customer(instance)
    ordered = ordered_racks(instance)
    allocated = (
        facts.allocation.groupby("customer")["racks"].sum().reindex(ordered.index, fill_value=0)
    )
    in_tier = (tiers == tier) & (ordered > 0)
    fill = allocated[in_tier] / ordered[in_tier]
    lowest = float(fill.min())
    at_floor = [
        c for c in fill.index[np.isclose(fill, lowest, atol=SHORT_TOLERANCE)] if c != customer
    ]
    held = shipped[shipped["customer"].isin(at_floor)]
    if not len(held):
        return None
    names = ", ".join(sorted(set(held["customer"].astype(str))))
    waiting = facts.waiting(customer)
    text = (
        f"fair share holds tier {tier}'s lowest fill rate at {lowest:.1%} "
        f"({racks_text(waiting)}): {names} at that rate got "
        f"{racks_text(float(held['racks'].sum()))} in its delivery windows"
    )
    return Reason("fair_share", text, lowest, waiting)
