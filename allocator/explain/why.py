"""Why a customer is short: each reason with the number that makes it true.

Reasons are derived from the instance, the plan and the marginal values. Never imports
Pyomo.

Works on tables only (the plan's ``allocation`` and ``surplus`` rows, the per-customer
table and ``marginal_values.csv``), so the same code runs right after a solve and on a
result folder read back from disk. Unit value of order o shipped in t: pi + m - k * (t - r),
plus the shortfall penalty while its internal customer is below its committed fill. The
marginal value of supply is the ``base_racks`` dual (the LP relaxation's for a MIP).
Under the lexicographic rule first (`allocator.explain.priority`):

``higher_tier``
    customers of a higher tier got racks of the products and periods its short orders
    could take.
``fair_share``
    a customer of its own tier held at the tier's lowest fill rate got them.

Then for every order with unserved racks, in this order:

``no_supply``
    no supply in its delivery window: nothing of its product can be made or held by the
    end of its ship window W(o) (initial stock + base racks + the surplus the foundry's
    wafers allow), or the window is empty; or no supply left: in no period of W(o) is a
    rack left in stock, and no more surplus can be made by its end (surplus at its
    maximum or the foundry's wafers used up), so every rack that can exist is shipped.
``outbid``
    every rack in its window earns more elsewhere: in every t of W(o) by which a rack can
    exist, the marginal value of a rack of its product exceeds its unit value.
``surplus_cost``
    no rack is left in stock in its window, and the cheapest extra surplus rack (its
    ``surplus_cost`` plus holding until t) costs at least its unit value.
``next_in_line``
    partly served, and its unit value equals the marginal value: it is the order one more
    rack would go to.
``substitute_passed``
    its substitute (substitutes.csv) had racks left in stock in its window: that stock is
    kept for orders that value it more (the cheapest of them named), or the substitute is
    worth nothing to the order by then, or another limit holds it back
    (`allocator.explain.substitutes`).
``region_power``
    its region's power is full: for every t of W(o) a ``regions.csv`` row (g, t' >= t) has
    less slack than one rack of its product draws (the number: the region_power duals
    from its window on).

and per third-party customer:

``share_cap``
    the third-party share cap (constraint 6) leaves room for fewer racks than one more
    rack (its minimum deal when the deal was rejected); the number is the slack.
``deal_not_worth``
    its deal was rejected and its minimum size cannot be supplied in its windows, or the
    most a deal of at least its minimum size could earn over the marginal value of the
    supply it takes is no more than its onboarding cost.

A short customer none of these explain gets ``integrality``: its racks are worth more
than their supply at the LP margin and nothing binds, so the whole-rack, all-or-nothing
integer plan is what leaves it short.
"""

from __future__ import annotations

import pandas as pd

from allocator.data.instance import Instance
from allocator.explain.facts import ShortageFacts
from allocator.explain.priority import priority_reasons
from allocator.explain.reasons import (
    Reason,
    customer_reasons,
    order_findings,
    order_reasons,
    unexplained,
)
from allocator.explain.substitutes import substitute_reasons

__all__ = ["REASON_ORDER", "Reason", "why_short", "why_short_column"]

REASON_ORDER = (
    "higher_tier",
    "fair_share",
    "no_supply",
    "outbid",
    "surplus_cost",
    "next_in_line",
    "substitute_passed",
    "region_power",
    "share_cap",
    "deal_not_worth",
    "integrality",
)


def why_short(
    instance: Instance,
    allocation: pd.DataFrame,
    surplus: pd.DataFrame,
    customers: pd.DataFrame,
    marginal_values: pd.DataFrame | None,
) -> dict[str, list[Reason]]:
    """The reasons of every customer with a waiting list, in `REASON_ORDER`.

    ``allocation`` and ``surplus``: the plan's rows (allocation.csv, surplus.csv);
    ``customers``: the per-customer table (``customer``, ``segment``,
    ``waiting_list_racks``, ``shortfall_racks``, ``deal_accepted``); ``marginal_values``:
    ``marginal_values.csv``, or None (then the reasons that need a dual are not checked).
    """
    facts = ShortageFacts(instance, allocation, surplus, customers, marginal_values)
    findings = order_findings(facts)
    reasons: dict[str, list[Reason]] = {}
    for customer in facts.short_customers():
        found = priority_reasons(facts, customer)
        found += order_reasons(facts, findings, customer)
        found += substitute_reasons(facts, customer)
        found += customer_reasons(facts, customer)
        if not found:
            found.append(unexplained(facts, customer))
        found.sort(key=lambda reason: REASON_ORDER.index(reason.code))
        reasons[customer] = found
    return reasons


def why_short_column(
    instance: Instance,
    allocation: pd.DataFrame,
    surplus: pd.DataFrame,
    customers: pd.DataFrame,
    marginal_values: pd.DataFrame | None,
) -> pd.Series:
    """`why_short` as text per row of ``customers`` ("" for a customer not short)."""
    reasons = why_short(instance, allocation, surplus, customers, marginal_values)
    texts = [
        "; ".join(reason.text for reason in reasons.get(customer, []))
        for customer in customers["customer"]
    ]
    return pd.Series(texts, index=customers.index, name="why_short", dtype=object)
