"""Solver output -> tidy tables: the plan and the marginal values.

Read through the compiled model's names (`allocator.solver.compile.Names`), not Pyomo
objects."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.plan.fill import greedy_fill
from allocator.plan.repair import round_plan
from allocator.plan.tables import Plan, make_plan
from allocator.solver.highs import CompiledModel

MARGINAL_COLUMNS = ["resource", "item", "period", "value"]
INTEGRALITY_TOLERANCE = 1e-5


def _values_by_component(
    compiled: CompiledModel, values: np.ndarray
) -> dict[str, dict[Any, float]]:
    names = compiled.names
    by_component: dict[str, dict[Any, float]] = {}
    for code, name in enumerate(names.components):
        columns = np.flatnonzero(names.column_code == code)
        index = names.column_index
        by_component[name] = dict(
            zip([index[c] for c in columns.tolist()], values[columns].tolist(), strict=True)
        )
    return by_component


def component_values(
    compiled: CompiledModel, values: np.ndarray, component: str, *, integral: bool
) -> dict[Any, float]:
    """Index -> value of every column of ``component`` (integer columns rounded when
    ``integral``)."""
    if integral:
        values = np.where(compiled.is_integer, np.round(values), values)
    return _values_by_component(compiled, values).get(component, {})


def extract_plan(
    instance: Instance,
    compiled: CompiledModel,
    values: np.ndarray,
    *,
    integral: bool,
    components: Mapping[str, str] | None = None,
) -> Plan:
    """The plan from HiGHS's column values; integer variables rounded when ``integral``.
    ``components`` names the component each plan family is read from (a scenario's block
    of the extensive form: ``scenario[w].ship_racks``); by default the family itself.

    Raises if a value the MIP calls integer is further than 1e-5 from an integer.
    """
    if integral:
        integer_values = values[compiled.is_integer]
        drift = np.abs(integer_values - np.round(integer_values))
        if drift.size and drift.max() > INTEGRALITY_TOLERANCE:
            raise RuntimeError(f"HiGHS returned a value {drift.max():g} away from an integer")
        values = np.where(compiled.is_integer, np.round(values), values)
    by_component = _values_by_component(compiled, values)
    if components is not None:
        by_component = {family: by_component.get(name, {}) for family, name in components.items()}
    dtype = "int64" if integral else "float64"
    orders = instance.orders
    product_of = dict(zip(orders["order"].tolist(), orders["product"].tolist(), strict=True))
    rows = [
        (order, product_of[order], period, racks)
        for (order, period), racks in by_component.get("ship_racks", {}).items()
    ]
    rows += [
        (order, product, period, racks)
        for (order, product, period), racks in by_component.get("substitute_racks", {}).items()
    ]
    ship = pd.DataFrame(rows, columns=["order", "product", "ship_period", "racks"]).astype(
        {"ship_period": "int64", "racks": dtype}
    )
    surplus_items = by_component.get("surplus_racks", {})
    surplus = pd.DataFrame(
        [(product, period, racks) for (product, period), racks in surplus_items.items()],
        columns=["product", "period", "racks"],
    ).astype({"period": "int64", "racks": dtype})
    accepted = pd.Series(by_component.get("is_deal_accepted", {}), dtype=float)
    return make_plan(instance, ship, surplus, accepted)


def lp_rounded_plan(
    instance: Instance,
    compiled: CompiledModel,
    lp_values: np.ndarray,
    stop: Callable[[], bool] | None = None,
) -> Plan:
    """The LP relaxation's column values as a whole-rack plan: rounded down and repaired
    (`allocator.plan.repair.round_plan`), then the stock left over filled by value per
    rack (`allocator.plan.fill.greedy_fill`, which raises `Stopped` once ``stop`` says
    so). The plan the anytime solve writes first and the one a MIP without a time limit
    starts from (`allocator.solver.neighbourhood`)."""
    relaxed = extract_plan(instance, compiled, lp_values, integral=False)
    return greedy_fill(instance, round_plan(instance, relaxed), stop)


def marginal_values(instance: Instance, compiled: CompiledModel, duals: np.ndarray) -> pd.DataFrame:
    """What one more unit of each resource is worth (currency per unit): the LP row dual
    of foundry_surplus (per wafer), stock_balance (per base rack) and region_power (per kW).
    A resource whose row is absent (nothing can use it) is worth 0."""
    names = compiled.names

    def duals_of(component: str) -> Callable[[Any], float]:
        row_of = names.rows_of(component)

        def dual(key: Any) -> float:
            row = row_of.get(key)
            return 0.0 if row is None else float(duals[row]) + 0.0

        return dual

    surplus_wafers = duals_of("foundry_surplus")
    base_racks = duals_of("stock_balance")
    region_power = duals_of("region_power")
    rows: list[tuple[str, str, int, float]] = []
    for period in range(1, instance.periods + 1):
        rows.append(("surplus_wafers", "", period, surplus_wafers(period)))
    for product, period in zip(instance.supply["product"], instance.supply["period"], strict=True):
        rows.append(("base_racks", product, int(period), base_racks((product, int(period)))))
    for region, period in zip(instance.regions["region"], instance.regions["period"], strict=True):
        rows.append(("region_power", region, int(period), region_power((region, int(period)))))
    return pd.DataFrame(rows, columns=MARGINAL_COLUMNS)
