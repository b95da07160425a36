"""A two-stage plan's first stage against the instances: its value and where it does not fit.

Plain pandas, nothing of the model: the recourse value is recomputed from each
scenario's objective terms (`allocator.plan.tables.objective_terms`, themselves
recomputed from the plan's rows), and a first stage is checked against a scenario's
limits straight from its tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from allocator.data.instance import Instance

SURPLUS_TERM = "surplus_cost"
"""The objective term of the surplus racks made (negative)."""


def surplus_cost(instance: Instance, surplus: pd.DataFrame) -> float:
    """sum_{p,t} surplus_cost[p,t] * s[p,t] at ``instance``'s costs (positive)."""
    if surplus.empty:
        return 0.0
    cost = instance.supply.set_index(["product", "period"])["surplus_cost"]
    keys = pd.MultiIndex.from_arrays([surplus["product"], surplus["period"].astype(int)])
    return float((cost.reindex(keys).fillna(0.0).to_numpy() * surplus["racks"].to_numpy()).sum())


def recourse_value(
    base: Instance,
    surplus: pd.DataFrame,
    scenarios: Sequence[tuple[float, Mapping[str, float]]],
) -> float:
    """The contract's recourse objective of a two-stage plan:
    - sum_{p,t} surplus_cost[p,t] * s[p,t] (the base instance's costs)
    + sum_w prob(w) * (objective of w's plan without its surplus cost term), from each
    scenario's (probability, objective terms)."""
    expected = sum(
        probability * (sum(terms.values()) - terms.get(SURPLUS_TERM, 0.0))
        for probability, terms in scenarios
    )
    return expected - surplus_cost(base, surplus)


def first_stage_misfits(
    instance: Instance, surplus: pd.DataFrame, deals: Mapping[str, float] | None
) -> list[str]:
    """Why a first stage cannot be this scenario's: surplus racks over surplus_max_racks
    (or before the product's first period), wafers over the foundry's surplus wafers,
    an accepted deal whose minimum contract exceeds the racks the customer ordered.
    Empty when none of these holds (the solve may still find the scenario's supply
    cannot meet an accepted deal's minimum)."""
    problems: list[str] = []
    products = instance.products.set_index("product")
    limits = instance.supply.set_index(["product", "period"])["surplus_max_racks"]
    wafers_used: dict[int, float] = {}
    for product, period, racks in zip(
        surplus["product"], surplus["period"].astype(int), surplus["racks"], strict=True
    ):
        if racks <= 0:
            continue
        first = int(products.loc[product, "available_from"])
        limit = int(limits.get((product, period), 0)) if period >= first else 0
        if racks > limit:
            problems.append(
                f"surplus {product} period {period}: {racks:g} racks over its limit of {limit}"
            )
        wafers = float(products.loc[product, "wafers_per_rack"]) * float(racks)
        wafers_used[period] = wafers_used.get(period, 0.0) + wafers
    for period, used in sorted(wafers_used.items()):
        offered = float(instance.surplus_wafers.get(period, 0.0))
        if used > offered + 1e-9:
            problems.append(f"surplus wafers period {period}: {used:g} used, {offered:g} offered")
    if deals is not None:
        minimums = instance.customers.set_index("customer")["min_contract_racks"].to_dict()
        ordered = instance.orders.groupby("customer")["racks"].sum().to_dict()
        for customer, accepted in deals.items():
            minimum = float(minimums.get(customer, 0.0))
            demand = float(ordered.get(customer, 0))
            if accepted > 0.5 and minimum > demand:
                problems.append(
                    f"deal {customer}: minimum contract {minimum:g} racks over the "
                    f"{demand:g} racks ordered"
                )
    return problems


def first_stage_surplus(surplus: pd.DataFrame) -> dict[tuple[str, int], float]:
    """The surplus rows as (product, period) -> racks."""
    return {
        (str(product), int(period)): float(racks)
        for product, period, racks in zip(
            surplus["product"], surplus["period"], surplus["racks"], strict=True
        )
    }
