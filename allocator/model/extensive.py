"""The two-stage plan's extensive form: one block per scenario, built by the one-scenario families.

The contract's recourse problem (RP, docs/contract.md "Uncertain demand and foundry
surplus") is one MIP: ``model.scenario[w]`` is scenario w's whole model, built on its own
instance by `allocator.model.build.build_families` (the same ``add_<family>`` functions
as a plain solve: no formula is written twice), with its own objective deactivated. The
first-stage decisions are variables of the model itself (``first_stage_surplus[p,t]``,
and with deals ``first_stage_deal[c]``), tied to each block's own ``surplus_racks`` and
``is_deal_accepted`` by non-anticipativity rows; ``expected_objective`` is the RP
objective. models/FORMULATION.md, "Two-stage plan", has the math.

Linking by rows rather than by substituting the shared variable into each block keeps
every family function as it is and gives the scenario-indexed first-stage copies that a
scenario decomposition works on; HiGHS's presolve removes the rows (each is a doubleton
equation), so the MIP it searches is the substituted one.

`fixed_first_stage` is the other use of a first stage: a `ModelExtension` that fixes a
one-scenario model's surplus racks and deals (the EEV solves).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyomo.core as pyo

from allocator.data.instance import Instance
from allocator.model.build import ModelExtension, build_families
from allocator.model.coefficients import (
    FirstStageNumbers,
    ModelOptions,
    first_stage_numbers,
    model_coefficients,
)
from allocator.model.expressions import Row, integer_domain, linear
from allocator.model.start import set_plan_start
from allocator.plan.tables import empty_plan, make_plan

PLAN_FAMILIES = ("ship_racks", "substitute_racks", "surplus_racks", "is_deal_accepted")
"""The variable families a plan is read from (`allocator.solver.results.extract_plan`)."""


@dataclass(frozen=True)
class ScenarioModel:
    """One scenario of the two-stage plan: its name, probability and instance."""

    name: str
    probability: float
    instance: Instance


def build_extensive(
    base: Instance,
    scenarios: Sequence[ScenarioModel],
    options: ModelOptions,
    *,
    deals: bool,
) -> pyo.ConcreteModel:
    """The extensive form of the recourse problem (see the module docstring): first-stage
    variables, one block per scenario, the non-anticipativity rows, the RP objective.
    Outside strict mode every variable starts at the ship-nothing plan."""
    numbers = {
        scenario.name: model_coefficients(scenario.instance, options) for scenario in scenarios
    }
    first = first_stage_numbers(base, list(numbers.values()), deals=deals)
    model = pyo.ConcreteModel(name=f"{base.name} two-stage")
    add_first_stage_surplus(model, first, options)
    add_first_stage_deal(model, first, options)
    model.scenario = pyo.Block([scenario.name for scenario in scenarios])
    for scenario in scenarios:
        block = model.scenario[scenario.name]
        build_families(block, numbers[scenario.name], options)
        block.objective.deactivate()
        if not options.strict:
            set_plan_start(block, scenario.instance, empty_plan(scenario.instance))
    add_surplus_non_anticipativity(model)
    add_deal_non_anticipativity(model)
    add_expected_objective(model, first, {s.name: s.probability for s in scenarios})
    return model


def plan_components(model: pyo.ConcreteModel, scenario: str) -> dict[str, str]:
    """Family -> the full name of scenario ``scenario``'s component of that family (a
    compiled model names its columns by these)."""
    block = model.scenario[scenario]
    return {family: block.component(family).name for family in PLAN_FAMILIES}


# --- first-stage variables -----------------------------------------------------------


def add_first_stage_surplus(
    model: pyo.ConcreteModel, first: FirstStageNumbers, options: ModelOptions
) -> None:
    """0 <= s[p,t] <= min_w surplus_max_racks_w[p,t] integer: surplus racks committed
    before the scenario is known.

    Only for the (p,t) where every scenario has a surplus column (t >= available_from(p)
    and surplus_max_racks > 0 in each); elsewhere some scenario cannot make surplus, and
    the shared s is 0."""
    bounds = dict(zip(first.surplus.keys, first.surplus["upper"].tolist(), strict=True))
    model.first_stage_surplus = pyo.Var(
        first.surplus.keys,
        domain=integer_domain(options),
        bounds=lambda _, p, t: (0, int(bounds[p, t])),
        dense=True,
        initialize=0,
    )


def add_first_stage_deal(
    model: pyo.ConcreteModel, first: FirstStageNumbers, options: ModelOptions
) -> None:
    """y[c] binary, third-party c: the deal is accepted before the scenario is known;
    only with ``--first-stage surplus,deals`` (none otherwise)."""
    domain = pyo.UnitInterval if options.relax else pyo.Binary
    model.first_stage_deal = pyo.Var(first.deals or [], domain=domain, dense=True, initialize=0)


# --- constraints ---------------------------------------------------------------------


def add_surplus_non_anticipativity(model: pyo.ConcreteModel) -> None:
    """(9) s_w[p,t] - s[p,t] = 0

    Enforced over every scenario w and every surplus column (p,t) of w; where (p,t) has
    no first-stage variable (another scenario cannot make surplus there) the row reads
    s_w[p,t] = 0."""
    rows: dict[Any, Row] = {}
    shared = model.first_stage_surplus
    for name, block in model.scenario.items():
        for key, var in block.surplus_racks.items():
            if key in shared:
                rows[(name, *key)] = (0.0, linear([1.0, -1.0], [var, shared[key]]), 0.0)
            else:
                rows[(name, *key)] = (0.0, linear([1.0], [var]), 0.0)
    model.surplus_non_anticipativity = pyo.Constraint(
        list(rows), rule=lambda _, w, p, t: rows[w, p, t]
    )


def add_deal_non_anticipativity(model: pyo.ConcreteModel) -> None:
    """(10) y_w[c] - y[c] = 0

    Enforced over every scenario w and third-party customer c when deals are in the
    first stage (no rows otherwise)."""
    rows: dict[Any, Row] = {}
    shared = model.first_stage_deal
    if len(shared):
        for name, block in model.scenario.items():
            for customer, var in block.is_deal_accepted.items():
                rows[name, customer] = (0.0, linear([1.0, -1.0], [var, shared[customer]]), 0.0)
    model.deal_non_anticipativity = pyo.Constraint(list(rows), rule=lambda _, w, c: rows[w, c])


# --- objective -----------------------------------------------------------------------


def add_expected_objective(
    model: pyo.ConcreteModel, first: FirstStageNumbers, probability: Mapping[str, float]
) -> None:
    """maximize  - sum_{p,t} surplus_cost[p,t] * s[p,t]
    + sum_w prob(w) * (objective_w - its surplus cost term)

    objective_w is scenario w's own objective (``add_objective`` on its block, read term
    by term and deactivated there); its surplus cost is left out, and the first stage is
    charged at the base instance's surplus_cost instead (the contract's RP)."""
    coefs = first.surplus["cost"].tolist()
    variables = list(model.first_stage_surplus.values())
    for name, block in model.scenario.items():
        surplus = {id(var) for var in block.surplus_racks.values()}
        expression = block.objective.expr
        weight = float(probability[name])
        for coef, var in zip(expression.linear_coefs, expression.linear_vars, strict=True):
            if id(var) not in surplus:
                coefs.append(weight * coef)
                variables.append(var)
    model.expected_objective = pyo.Objective(expr=linear(coefs, variables), sense=pyo.maximize)


# --- a one-scenario model with its first stage fixed ---------------------------------


def fixed_first_stage(
    instance: Instance, surplus: Mapping[tuple[str, int], float], deals: Mapping[str, float] | None
) -> ModelExtension:
    """Fix a one-scenario model's surplus racks to ``surplus`` (0 where not given) and,
    when ``deals`` is given, its deals to those values; the start is the plan that makes
    that surplus and ships nothing. A value over a column's bound (or a surplus the model
    has no column for) leaves the model infeasible: check it first
    (`allocator.plan.first_stage.first_stage_misfits`)."""

    def extend(model: pyo.ConcreteModel) -> None:
        frame = pd.DataFrame(
            [(product, period, racks) for (product, period), racks in surplus.items()],
            columns=["product", "period", "racks"],
        ).astype({"period": "int64", "racks": "float64"})
        keys = set(model.surplus_racks.keys())
        inside = [(p, t) in keys for p, t in zip(frame["product"], frame["period"], strict=True)]
        made = frame.loc[pd.Series(inside, index=frame.index, dtype=bool)]
        accepted = pd.Series(dict(deals or {}), dtype=float)
        ship = empty_plan(instance).allocation[["order", "ship_period", "racks"]]
        set_plan_start(model, instance, make_plan(instance, ship, made, accepted))
        for key, var in model.surplus_racks.items():
            _fix(var, float(surplus.get(key, 0.0)))
        if deals is not None:
            for customer, var in model.is_deal_accepted.items():
                _fix(var, float(deals.get(customer, 0.0)))

    return extend


def priced_first_stage(
    price: Mapping[tuple[str, int], float], upper: Mapping[tuple[str, int], float]
) -> ModelExtension:
    """A one-scenario model as a subproblem of the scenario decomposition
    (`allocator.stochastic.decomposition`): each surplus rack s[p,t] enters the objective
    at ``price[p,t]`` (the base instance's -surplus_cost plus the scenario's multiplier)
    instead of -surplus_cost[p,t], within ``upper[p,t]`` (the first stage's bound); s = 0
    where (p,t) has no first-stage column. Shipping nothing stays a feasible start."""

    def extend(model: pyo.ConcreteModel) -> None:
        column_of = {id(var): key for key, var in model.surplus_racks.items()}
        for key, var in model.surplus_racks.items():
            limit = float(upper.get(key, 0.0))
            var.setub(limit if var.ub is None else min(var.ub, limit))
        expression = model.objective.expr
        coefs = [
            float(price.get(column_of[id(var)], 0.0)) if id(var) in column_of else coef
            for coef, var in zip(expression.linear_coefs, expression.linear_vars, strict=True)
        ]
        model.objective.set_value(linear(coefs, list(expression.linear_vars)))

    return extend


def _fix(var: Any, value: float) -> None:
    """Both bounds at ``value``, within the variable's own upper bound (a value above it
    makes the bounds cross: infeasible, as it should be)."""
    upper = var.ub
    var.setlb(value)
    var.setub(value if upper is None else min(value, upper))
