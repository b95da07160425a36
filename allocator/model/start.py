"""A MIP start from a plan: every model variable's value, computed without Pyomo.

Given the plan's shipments, surplus racks and deals; `set_plan_start` puts it on a built
model.

x, s and y come from the plan; v, u and w follow from them: v by the stock balance,
u[c] = max(0, F(c) - shipped(c)), w[g,t] = kW delivered to g by t, f[k] = the lowest
fill rate in tier k (fair share). With the empty plan
(ship nothing) the start is feasible outside strict mode, so a time-limited MIP always
has a plan to write.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd
import pyomo.core as pyo

from allocator.data.instance import Instance
from allocator.plan.priority import MIN_FILL, priority_stages, stage_value
from allocator.plan.tables import Plan, shortfall_racks, stock_table

StartValues = dict[str, dict[Any, float]]
"""Component name -> (index -> value); a variable with no entry starts at 0."""


def start_values(instance: Instance, plan: Plan) -> StartValues:
    """The value of every variable family in ``plan`` (see the module docstring)."""
    allocation, surplus = plan.allocation, plan.surplus
    ordered = allocation.get("ordered_product", allocation["product"])
    own = allocation[allocation["product"] == ordered]
    substituted = allocation[allocation["product"] != ordered]
    ship = {
        (order, int(period)): float(racks)
        for order, period, racks in zip(own["order"], own["ship_period"], own["racks"], strict=True)
    }
    substitute = {
        (order, product, int(period)): float(racks)
        for order, product, period, racks in zip(
            substituted["order"],
            substituted["product"],
            substituted["ship_period"],
            substituted["racks"],
            strict=True,
        )
    }
    values: StartValues = {
        "ship_racks": ship,
        "substitute_racks": substitute,
        "surplus_racks": {
            (product, int(period)): float(racks)
            for product, period, racks in zip(
                surplus["product"], surplus["period"], surplus["racks"], strict=True
            )
        },
        "is_deal_accepted": {str(c): float(y) for c, y in plan.deal_accepted.items()},
    }
    stock = stock_table(instance, plan)
    values["stock_racks"] = {
        (product, int(period)): float(racks)
        for product, period, racks in zip(
            stock["product"], stock["period"], stock["stock"], strict=True
        )
    }
    values["shortfall_racks"] = {
        str(c): float(u) for c, u in shortfall_racks(instance, plan).items()
    }
    values["region_power_kw"] = _delivered_kw(instance, allocation)
    values["tier_min_fill"] = {
        stage.tier: stage_value(instance, plan, stage)
        for stage in priority_stages(instance)
        if stage.criterion == MIN_FILL
    }
    return values


def _delivered_kw(instance: Instance, allocation: pd.DataFrame) -> dict[Any, float]:
    """w[g,t]: kW delivered to region g in periods 1..t, at every regions.csv row."""
    kw = allocation["product"].map(instance.products.set_index("product")["power_kw"])
    region = allocation["order"].map(instance.orders.set_index("order")["region"])
    by_region: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for name, period, used in zip(
        region, allocation["ship_period"], kw * allocation["racks"], strict=True
    ):
        by_region[str(name)].append((int(period), float(used)))
    return {
        (name, int(period)): sum(value for t, value in by_region.get(name, []) if t <= period)
        for name, period in zip(instance.regions["region"], instance.regions["period"], strict=True)
    }


def set_plan_start(model: pyo.ConcreteModel, instance: Instance, plan: Plan) -> None:
    """Set every variable of the model to its value in ``plan`` (`start_values`).

    Raises ValueError when the plan ships or makes racks through a variable the model
    does not have (outside its windows or surplus columns)."""
    values = start_values(instance, plan)
    missing = [
        key
        for name in ("ship_racks", "substitute_racks", "surplus_racks")
        for key in values[name]
        if key not in model.component(name)
    ]
    if missing:
        raise ValueError(f"the plan uses variables the model does not have: {missing}")
    for name, given in values.items():
        for key, var in model.component(name).items():
            var.set_value(given.get(key, 0.0), skip_validation=True)
