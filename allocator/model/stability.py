"""Stability terms of the nightly run: frozen periods, a change penalty, the MIP start.

Each family is one function adding Pyomo components through `solve_instance`'s
``extend`` hook, formula first in its docstring, named like its components.
Notation: K = frozen periods; keep[o,t] the repaired published plan
(the repaired published plan, feasible in tonight's instance); pub[o,t] the
published plan aligned to tonight's periods (0 where it shipped nothing).

* `add_frozen_ship_racks`: x[o,t] = keep[o,t] for t <= K, as variable bounds. Safe
  because keep is itself a feasible plan: the model keeps a solution. Used whenever
  keep passes `check_plan` (always outside strict mode).
* `add_frozen_ship_change`: the elastic fallback when keep fails strict mode's hard
  internal fill: |x[o,t] - keep[o,t]| for t <= K costs ``frozen_change_cost`` per rack
  instead of being fixed, so the model cannot become infeasible through freezing.
* `add_ship_change`: |x[o,t] - pub[o,t]| for t > K costs ``change_penalty`` per rack.
* `add_stability_cost`: subtracts both from the contract's objective (the summary's objective
  stays the contract's; the stability cost is reported separately).
* `set_previous_plan_start`: every variable set from keep, a complete MIP start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import pyomo.core as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

from allocator.data.instance import Instance
from allocator.model.build import ModelExtension
from allocator.model.expressions import linear
from allocator.model.start import set_plan_start
from allocator.plan.tables import Plan

Cell = tuple[str, str, int]
"""(order, product shipped, ship period): one x[o,p,t]."""
Cells = dict[Cell, float]
"""(order, product shipped, ship period) -> racks; a switch of product is a change."""


class Baseline(Protocol):
    """The last published plan seen from tonight's instance, as the stability terms need
    it (`allocator.nightly.baseline.Baseline` is one): ``plan`` the repaired published
    plan, feasible tonight unless ``violations`` says why not."""

    @property
    def plan(self) -> Plan: ...

    @property
    def violations(self) -> list[str]: ...

    @property
    def is_feasible(self) -> bool: ...

    def kept_racks(self, frozen_periods: int) -> Cells: ...

    def published_racks(self, first_period: int) -> Cells: ...


FROZEN_NONE = "none"
FROZEN_FIXED = "fixed"
FROZEN_ELASTIC = "elastic"


@dataclass(frozen=True)
class StabilityOptions:
    """``frozen_periods`` K, ``change_penalty`` per rack moved after K, and whether HiGHS
    starts from the last published plan."""

    frozen_periods: int = 0
    change_penalty: float = 0.0
    mip_start: bool = True


@dataclass
class StabilitySetup:
    """What the extension did, for the manifest."""

    frozen_mode: str = FROZEN_NONE
    frozen_change_cost: float = 0.0
    frozen_racks_kept: float = 0.0
    changed_cells: int = 0
    mip_start: str = "none"
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "frozen_mode": self.frozen_mode,
            "frozen_change_cost": self.frozen_change_cost,
            "frozen_racks_kept": self.frozen_racks_kept,
            "changed_cells": self.changed_cells,
            "mip_start": self.mip_start,
            "notes": list(self.notes),
        }


def frozen_change_cost(instance: Instance) -> float:
    """Cost per frozen rack moved in the elastic fallback: more than any one rack can earn
    (the highest pi(o) + m(o)) plus the internal shortfall penalty it could avoid, so a
    frozen rack moves only where strict mode leaves no other way."""
    orders = instance.orders
    best = float((orders["price_per_rack"] + orders["margin_per_rack"]).max()) if len(orders) else 0
    return best + float(instance.policy.internal_shortfall_penalty) + 1.0


def stability_extension(
    instance: Instance, baseline: Baseline, options: StabilityOptions
) -> tuple[ModelExtension, StabilitySetup]:
    """The ``extend`` hook for `solve_instance`, and a record of what it adds."""
    setup = StabilitySetup()
    frozen = min(options.frozen_periods, instance.periods)
    keep = baseline.kept_racks(frozen)
    if frozen > 0:
        setup.frozen_mode = FROZEN_FIXED if baseline.is_feasible else FROZEN_ELASTIC
        setup.frozen_racks_kept = float(sum(keep.values()))
        if setup.frozen_mode == FROZEN_ELASTIC:
            setup.frozen_change_cost = frozen_change_cost(instance)
            setup.notes.append(
                "frozen periods made elastic: the published plan cannot be repaired to "
                f"meet strict internal fill ({baseline.violations[0]})"
            )
    published = baseline.published_racks(frozen + 1)
    if options.mip_start and baseline.is_feasible:
        setup.mip_start = "previous_plan"
    elif options.mip_start:
        setup.mip_start = "skipped"
        setup.notes.append(
            "MIP start skipped: the repaired published plan fails strict mode "
            f"({baseline.violations[0]})"
        )

    def extend(model: pyo.ConcreteModel) -> None:
        ship = ship_variables(model, instance)
        costs: list[pyo.Expression] = []
        if setup.frozen_mode == FROZEN_FIXED:
            add_frozen_ship_racks(ship, keep, frozen)
        elif setup.frozen_mode == FROZEN_ELASTIC:
            costs.append(
                add_frozen_ship_change(model, ship, keep, frozen, setup.frozen_change_cost)
            )
        if options.change_penalty > 0:
            costs.append(add_ship_change(model, ship, published, frozen, options.change_penalty))
            setup.changed_cells = len(model.ship_change)
        add_stability_cost(model, costs)
        if setup.mip_start == "previous_plan":
            set_previous_plan_start(model, instance, baseline, ship)
        else:
            set_change_values(model, ship)

    return extend, setup


def ship_variables(model: pyo.ConcreteModel, instance: Instance) -> dict[Cell, pyo.Var]:
    """Every x[o,p,t] by (order, product shipped, period): ``ship_racks[o,t]`` for the
    order's own product, ``substitute_racks[o,p,t]`` for its substitutes."""
    product_of = dict(zip(instance.orders["order"], instance.orders["product"], strict=True))
    found: dict[Cell, pyo.Var] = {
        (order, product_of[order], period): var for (order, period), var in model.ship_racks.items()
    }
    for key, var in model.substitute_racks.items():
        found[key] = var
    return found


def add_frozen_ship_racks(ship: dict[Cell, pyo.Var], keep: Cells, frozen_periods: int) -> None:
    """keep[o,p,t] <= x[o,p,t] <= keep[o,p,t]   for every x[o,p,t] with t <= K

    Bounds, not rows (Pyomo's ``fix`` would drop the column from the plan read back).
    Enforced over the ship variables of the frozen periods; keep = 0 where the repaired
    published plan ships nothing, so nothing new (and no other product) ships in a
    frozen period.
    """
    for key, var in ship.items():
        if key[2] <= frozen_periods:
            racks = keep.get(key, 0.0)
            var.setlb(racks)
            var.setub(racks)


def add_frozen_ship_change(
    model: pyo.ConcreteModel,
    ship: dict[Cell, pyo.Var],
    keep: Cells,
    frozen_periods: int,
    cost_per_rack: float,
) -> pyo.Expression:
    """frozen_ship_change_cost = C_f * sum_{o, p, t <= K} |x[o,p,t] - keep[o,p,t]|

    with x - up + down = keep (rows ``frozen_ship_change``, variables
    ``frozen_ship_change_up``/``_down`` >= 0) where keep[o,p,t] > 0, and |x| = x where
    keep[o,p,t] = 0. C_f = `frozen_change_cost` (currency per rack).
    """
    return _add_change(
        model, "frozen_ship_change", ship, keep, range(1, frozen_periods + 1), cost_per_rack
    )


def add_ship_change(
    model: pyo.ConcreteModel,
    ship: dict[Cell, pyo.Var],
    published: Cells,
    frozen_periods: int,
    change_penalty: float,
) -> pyo.Expression:
    """ship_change_cost = X * sum_{o, p, t > K} |x[o,p,t] - pub[o,p,t]|

    with x - up + down = pub (rows ``ship_change``, variables ``ship_change_up``/``_down``
    >= 0) where pub[o,p,t] > 0 and x[o,p,t] exists; |x| = x where pub[o,p,t] = 0; and the
    constant X * pub[o,p,t] where x[o,p,t] no longer exists (the order is gone or t left
    its window: those racks move whatever the plan). A switch of product is a change:
    racks leave one (o, p, t) and arrive in another. X = ``change_penalty`` (currency per
    rack moved).
    """
    periods = range(frozen_periods + 1, max((key[2] for key in ship), default=0) + 1)
    missing = sum(
        racks for key, racks in published.items() if key not in ship and key[2] > frozen_periods
    )
    return _add_change(model, "ship_change", ship, published, periods, change_penalty, missing)


def _add_change(
    model: pyo.ConcreteModel,
    name: str,
    ship: dict[Cell, pyo.Var],
    target: Cells,
    periods: range,
    cost_per_rack: float,
    constant_racks: float = 0.0,
) -> pyo.Expression:
    """The |x - target| construction shared by the two change families."""
    keys: list[Cell] = []
    coefs: list[float] = []
    variables: list[pyo.Var] = []
    for key, var in ship.items():
        if key[2] not in periods:
            continue
        if target.get(key, 0.0) > 0:
            keys.append(key)
        else:
            coefs.append(cost_per_rack)
            variables.append(var)
    up = pyo.Var(keys, domain=pyo.NonNegativeReals, dense=True)
    down = pyo.Var(keys, domain=pyo.NonNegativeReals, dense=True)
    model.add_component(f"{name}_up", up)
    model.add_component(f"{name}_down", down)
    rows = {
        key: (
            target[key],
            linear([1.0, -1.0, 1.0], [ship[key], up[key], down[key]]),
            target[key],
        )
        for key in keys
    }
    model.add_component(name, pyo.Constraint(keys, rule=lambda _, o, p, t: rows[o, p, t]))
    for key in keys:
        coefs += [cost_per_rack, cost_per_rack]
        variables += [up[key], down[key]]
    cost = pyo.Expression(
        expr=LinearExpression(
            constant=cost_per_rack * constant_racks, linear_coefs=coefs, linear_vars=variables
        )
    )
    model.add_component(f"{name}_cost", cost)
    return cost


def add_stability_cost(model: pyo.ConcreteModel, costs: list[pyo.Expression]) -> None:
    """maximize contract objective - sum of the stability families' costs

    ``stability_cost`` (an Expression, 0 without stability terms) is kept on the model;
    the solver's objective then differs from the contract's by exactly its value.
    """
    model.stability_cost = pyo.Expression(expr=sum(costs) if costs else 0.0)
    if costs:
        model.objective.set_value(model.objective.expr - model.stability_cost)


def set_previous_plan_start(
    model: pyo.ConcreteModel, instance: Instance, baseline: Baseline, ship: dict[Cell, pyo.Var]
) -> None:
    """Every variable from the repaired published plan: x, s, y from its rows; v, u, w
    following from them (`allocator.model.start.set_plan_start`); the change variables
    up = max(x - target, 0), down = max(target - x, 0). Complete, and feasible: the
    repaired plan passes `check_plan` and satisfies the frozen bounds by construction."""
    set_plan_start(model, instance, baseline.plan)
    set_change_values(model, ship)


def set_change_values(model: pyo.ConcreteModel, ship: dict[Cell, pyo.Var]) -> None:
    """up/down of both change families consistent with the current x values (left unset
    where an x has no value: then the start is incomplete and HiGHS gets none)."""
    for name in ("frozen_ship_change", "ship_change"):
        rows = model.component(name)
        if rows is None:
            continue
        up, down = model.component(f"{name}_up"), model.component(f"{name}_down")
        for key in rows:
            x = ship[key].value
            if x is None:
                continue
            target = float(rows[key].upper)
            up[key].set_value(max(float(x) - target, 0.0))
            down[key].set_value(max(target - float(x), 0.0))
