"""The allocation MIP in Pyomo: one function per constraint family, in the contract's order.

`build_model` reads like the model's table of contents. Every family function's
docstring starts with its formula (models/FORMULATION.md has a section of the same name
for each, tied to it by tests/model/test_formulation.py) and says over which keys it is
enforced and which it skips. Component names are the family names, so a conflict reads
``internal_fill[aws-us-east-1]``. The numbers come from `allocator.model.coefficients`:
the builder only turns them into Pyomo components.

Expressions are built as `LinearExpression` from coefficient and variable lists:
the builder never goes through Pyomo's generic operator overloading.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import pyomo.core as pyo

from allocator.data.instance import Instance
from allocator.model.coefficients import (
    ModelCoefficients,
    ModelOptions,
    model_coefficients,
    ship_vars_by,
)
from allocator.model.expressions import Row, integer_domain, linear, ship_vars, total
from allocator.model.priority import add_fair_share, add_priority_stage, add_tier_min_fill
from allocator.model.start import set_plan_start
from allocator.plan.tables import empty_plan

ModelExtension = Callable[[pyo.ConcreteModel], None]
"""Adds components to a built model before the solve (the nightly stability terms, a
MIP start set as variable values); it must keep every constraint of the contract."""


def build_model(instance: Instance, options: ModelOptions) -> pyo.ConcreteModel:
    """The whole model: variables, then constraints 1-8, then the objective (and, under
    the lexicographic rule, the stage objectives, deactivated); outside strict mode every
    variable starts at the ship-nothing plan."""
    numbers = model_coefficients(instance, options)
    model = pyo.ConcreteModel(name=instance.name)
    build_families(model, numbers, options)
    if not options.strict:
        set_plan_start(model, instance, empty_plan(instance))
    return model


def build_families(model: pyo.Block, numbers: ModelCoefficients, options: ModelOptions) -> None:
    """Every family of the model on ``model``: a whole model, or one scenario's block of
    the two-stage extensive form (`allocator.model.extensive`), which builds each
    scenario from these same functions."""
    add_ship_racks(model, numbers, options)
    add_substitute_racks(model, numbers, options)
    add_surplus_racks(model, numbers, options)
    add_stock_racks(model, numbers)
    add_is_deal_accepted(model, numbers, options)
    add_shortfall_racks(model, numbers)
    add_region_power_kw(model, numbers)
    add_tier_min_fill(model, numbers)
    ship = ship_vars(model)  # x[o,p,t] in ShipColumns order, read once for every family
    add_stock_balance(model, numbers, ship)
    add_foundry_surplus(model, numbers)
    add_order_quantity(model, numbers, ship)
    add_internal_fill(model, numbers, ship)
    add_third_party_deal(model, numbers, ship)
    add_third_party_share(model, numbers, ship)
    add_region_power_balance(model, numbers, ship)
    add_region_power(model, numbers)
    add_fair_share(model, numbers, ship)
    add_objective(model, numbers)
    add_priority_stage(model, numbers, ship)


# --- variables -----------------------------------------------------------------------


def add_ship_racks(
    model: pyo.ConcreteModel, numbers: ModelCoefficients, options: ModelOptions
) -> None:
    """0 <= x[o,t] <= q(o) integer: racks shipped to order o in period t, for t in W(o).

    W(o) = max(r(o), available_from(p(o))) .. min(r(o) + d(o), periods); an order with
    an empty window has no variable. The bound q(o) is implied by order_quantity (3);
    stating it lets HiGHS's domain propagation and reduced-cost fixing work on small
    ranges (a 20k-variable generated instance: 171 s -> 31 s to gap 1e-4).
    """
    ship = numbers.ship
    own = ~ship.is_substitute
    bounds = {
        (order, period): (0, int(q))
        for order, period, q in zip(
            ship.order[own].tolist(),
            ship.period[own].tolist(),
            ship.upper[own].tolist(),
            strict=True,
        )
    }
    model.ship_racks = pyo.Var(
        list(bounds),
        domain=integer_domain(options),
        bounds=bounds,
        dense=True,
    )


def add_substitute_racks(
    model: pyo.ConcreteModel, numbers: ModelCoefficients, options: ModelOptions
) -> None:
    """0 <= x[o,p,t] <= q(o) integer: racks of product p != p(o) shipped to order o in t,
    for every substitute p of o (substitutes.csv) and t in W(o,p).

    W(o,p) = max(r(o), available_from(p)) .. min(r(o) + d(o), periods): the order's
    window rules with the substitute's own first period. Together with ``ship_racks``
    (p = p(o)) these are the contract's x[o,p,t]; without substitutes.csv there are none
    and the model is exactly the one without substitutes.
    """
    ship = numbers.ship
    chosen = ship.is_substitute
    bounds = {
        (order, product, period): (0, int(q))
        for order, product, period, q in zip(
            ship.order[chosen].tolist(),
            ship.product[chosen].tolist(),
            ship.period[chosen].tolist(),
            ship.upper[chosen].tolist(),
            strict=True,
        )
    }
    model.substitute_racks = pyo.Var(
        list(bounds),
        domain=integer_domain(options),
        bounds=bounds,
        dense=True,
    )


def add_surplus_racks(
    model: pyo.ConcreteModel, numbers: ModelCoefficients, options: ModelOptions
) -> None:
    """0 <= s[p,t] <= surplus_max_racks[p,t] integer: surplus racks made.

    Only for t >= available_from(p) and surplus_max_racks[p,t] > 0 (elsewhere s = 0).
    """
    surplus = numbers.surplus
    bounds = {key: (0, int(high)) for key, high in surplus.by_key("upper").items()}
    model.surplus_racks = pyo.Var(
        surplus.keys,
        domain=integer_domain(options),
        bounds=bounds,
        dense=True,
    )


def add_stock_racks(model: pyo.ConcreteModel, numbers: ModelCoefficients) -> None:
    """v[p,t] >= 0: racks of p in stock at the end of t, for every p and t = 1..periods."""
    model.stock_racks = pyo.Var(numbers.stock.keys, domain=pyo.NonNegativeReals, dense=True)


def add_is_deal_accepted(
    model: pyo.ConcreteModel, numbers: ModelCoefficients, options: ModelOptions
) -> None:
    """y[c] binary: third-party c's deal is accepted (in [0, 1] when relaxed)."""
    domain = pyo.UnitInterval if options.relax else pyo.Binary
    model.is_deal_accepted = pyo.Var(numbers.deal.keys, domain=domain, dense=True)


def add_shortfall_racks(model: pyo.ConcreteModel, numbers: ModelCoefficients) -> None:
    """u[c] >= 0: racks internal c is short of its committed fill.

    Only for internal customers whose committed racks min_fill[c] * sum q(o) are > 0;
    none at all in strict mode, which makes internal fill hard (u = 0).
    """
    model.shortfall_racks = pyo.Var(numbers.shortfall.keys, domain=pyo.NonNegativeReals, dense=True)


def add_region_power_kw(model: pyo.ConcreteModel, numbers: ModelCoefficients) -> None:
    """w[g,t] >= 0: kW of racks delivered to region g in periods 1..t.

    Only for the (g, t) rows of regions.csv, and only for regions some ship variable
    delivers to (elsewhere the limit is trivially met).
    """
    model.region_power_kw = pyo.Var(
        numbers.region_power.keys, domain=pyo.NonNegativeReals, dense=True
    )


# --- constraints ---------------------------------------------------------------------


def add_stock_balance(
    model: pyo.ConcreteModel, numbers: ModelCoefficients, ship: Sequence[pyo.Var]
) -> None:
    """(1) v[p,t] - v[p,t-1] - s[p,t] + sum_o x[o,p,t] = base_racks[p,t]

    Enforced over every product p and period t = 1..periods; every rack of p shipped
    counts, whatever product its order named; v[p,0] is the constant initial_inventory[p],
    moved to the right-hand side of t = 1.
    """
    by_key: dict[tuple[str, int], list[pyo.Var]] = defaultdict(list)
    for product, period, var in zip(
        numbers.ship.product.tolist(), numbers.ship.period.tolist(), ship, strict=True
    ):
        by_key[product, period].append(var)
    rows: dict[Any, Row] = {}
    for key, rhs in numbers.stock_balance.by_key("rhs").items():
        product, period = key
        variables = [model.stock_racks[key]]
        coefs = [1.0]
        if period > 1:
            variables.append(model.stock_racks[product, period - 1])
            coefs.append(-1.0)
        if key in model.surplus_racks:
            variables.append(model.surplus_racks[key])
            coefs.append(-1.0)
        rows[key] = (rhs, linear(coefs, variables, ones=by_key[key]), rhs)
    model.stock_balance = pyo.Constraint(list(rows), rule=lambda _, p, t: rows[p, t])


def add_foundry_surplus(model: pyo.ConcreteModel, numbers: ModelCoefficients) -> None:
    """(2) sum_p wafers_per_rack[p] * s[p,t] <= surplus_wafers[t]

    Enforced over periods t that have at least one surplus variable.
    """
    terms: dict[int, tuple[list[float], list[pyo.Var]]] = defaultdict(lambda: ([], []))
    for (key, var), wafers in zip(
        model.surplus_racks.items(), numbers.surplus["wafers"].tolist(), strict=True
    ):
        terms[key[1]][0].append(wafers)
        terms[key[1]][1].append(var)
    rows: dict[Any, Row] = {
        period: (None, linear(*terms[period]), rhs)
        for period, rhs in numbers.foundry_surplus.by_key("rhs").items()
    }
    model.foundry_surplus = pyo.Constraint(list(rows), rule=lambda _, t: rows[t])


def add_order_quantity(
    model: pyo.ConcreteModel, numbers: ModelCoefficients, ship: Sequence[pyo.Var]
) -> None:
    """(3) sum_{p, t} x[o,p,t] <= q(o)

    Enforced over orders with a non-empty ship window.
    """
    columns = ship_vars_by(numbers.ship.order)
    rows: dict[Any, Row] = {}
    for order, rhs in numbers.order_quantity.by_key("rhs").items():
        variables = [ship[column] for column in columns[order]]
        rows[order] = (None, total(variables), rhs)
    model.order_quantity = pyo.Constraint(list(rows), rule=lambda _, o: rows[o])


def add_internal_fill(
    model: pyo.ConcreteModel, numbers: ModelCoefficients, ship: Sequence[pyo.Var]
) -> None:
    """(4) sum_{o of c, p, t} x[o,p,t] + u[c] >= min_fill[c] * sum_{o of c} q(o)

    Enforced over internal customers whose committed racks are > 0; u[c] is absent in
    strict mode, making the fill hard.
    """
    columns = ship_vars_by(numbers.ship.customer)
    rows: dict[Any, Row] = {}
    for customer, committed in numbers.internal_fill.by_key("rhs").items():
        variables = [ship[column] for column in columns.get(customer, [])]
        if customer in model.shortfall_racks:
            variables.append(model.shortfall_racks[customer])
        rows[customer] = (committed, total(variables), None)
    model.internal_fill = pyo.Constraint(list(rows), rule=lambda _, c: rows[c])


def add_third_party_deal(
    model: pyo.ConcreteModel, numbers: ModelCoefficients, ship: Sequence[pyo.Var]
) -> None:
    """(5) min_contract_racks[c] * y[c] <= sum_{o of c,p,t} x[o,p,t] <= (sum_{o of c} q(o)) * y[c]

    Enforced over third-party customers, as two rows: ``[c, "min"]`` and ``[c, "max"]``
    (the ``min`` row only where min_contract_racks[c] > 0).
    """
    columns = ship_vars_by(numbers.ship.customer)
    deal = numbers.deal
    rows: dict[Any, Row] = {}
    for customer, min_contract, ordered in zip(
        deal.keys, deal["min_contract"].tolist(), deal["ordered"].tolist(), strict=True
    ):
        accepted = model.is_deal_accepted[customer]
        shipped = [ship[column] for column in columns.get(customer, [])]
        if min_contract > 0:
            rows[customer, "min"] = (
                0.0,
                linear([-min_contract], [accepted], ones=shipped),
                None,
            )
        rows[customer, "max"] = (None, linear([-ordered], [accepted], ones=shipped), 0.0)
    model.third_party_deal = pyo.Constraint(list(rows), rule=lambda _, c, side: rows[c, side])


def add_third_party_share(
    model: pyo.ConcreteModel, numbers: ModelCoefficients, ship: Sequence[pyo.Var]
) -> None:
    """(6) sum_{o third_party,p,t} x[o,p,t] <= third_party_max_share * sum_{o,p,t} x[o,p,t]

    One row, written as (1 - share) * x_third_party - share * x_internal <= 0; skipped
    when there are no third-party ship variables.
    """
    rows: dict[Any, Row] = {}
    if numbers.share is not None:
        rows["all"] = (None, linear(numbers.share.tolist(), ship), 0.0)
    model.third_party_share = pyo.Constraint(list(rows), rule=lambda _, k: rows[k])


def add_region_power_balance(
    model: pyo.ConcreteModel, numbers: ModelCoefficients, ship: Sequence[pyo.Var]
) -> None:
    """(7a) w[g,t_k] - w[g,t_(k-1)] - sum_{o: region(c(o))=g} sum_p sum_{t_(k-1) < t' <= t_k}
    power_kw[p] * x[o,p,t'] = 0

    Enforced over the keys of w; t_1 < t_2 < ... are the periods of g's rows and
    w[g,t_0] = 0 with t_0 = 0. Accumulating power period by period puts each x in one
    such row, where the contract's cumulative sum (7) would put it in every later (g, t)
    row.
    """
    periods_of: dict[str, list[int]] = defaultdict(list)
    for region, period in numbers.region_power.keys:
        periods_of[region].append(period)
    terms: dict[tuple[str, int], tuple[list[float], list[pyo.Var]]] = defaultdict(lambda: ([], []))
    columns = numbers.ship
    for region, period, power, var in zip(
        columns.region.tolist(),
        columns.period.tolist(),
        columns.power_kw.tolist(),
        ship,
        strict=True,
    ):
        periods = periods_of.get(region)
        if not periods or period > periods[-1]:
            continue
        coefs, variables = terms[region, periods[bisect.bisect_left(periods, period)]]
        coefs.append(-power)
        variables.append(var)
    rows: dict[Any, Row] = {}
    for region, periods in periods_of.items():
        for k, period in enumerate(periods):
            coefs, variables = terms[region, period]
            coefs, variables = [1.0, *coefs], [model.region_power_kw[region, period], *variables]
            if k > 0:
                coefs.append(-1.0)
                variables.append(model.region_power_kw[region, periods[k - 1]])
            rows[region, period] = (0.0, linear(coefs, variables), 0.0)
    model.region_power_balance = pyo.Constraint(list(rows), rule=lambda _, g, t: rows[g, t])


def add_region_power(model: pyo.ConcreteModel, numbers: ModelCoefficients) -> None:
    """(7) w[g,t] <= power_kw[g,t]

    With (7a) this is the contract's sum_{o: region(c(o)) = g} sum_{p, t' <= t} power_kw[p]
    * x[o,p,t'] <= power_kw[g,t]; its dual is the value of one more kW in g by t. Enforced
    over the keys of w.
    """
    rows: dict[Any, Row] = {
        key: (None, total([model.region_power_kw[key]]), limit)
        for key, limit in numbers.region_power.by_key("limit").items()
    }
    model.region_power = pyo.Constraint(list(rows), rule=lambda _, g, t: rows[g, t])


# --- objective -----------------------------------------------------------------------


def add_objective(model: pyo.ConcreteModel, numbers: ModelCoefficients) -> None:
    """maximize  sum_{o,p,t} (pi(o,p) + m(o,p) - k(o) * (t - r(o))) * x[o,p,t]
    - sum_{p,t} surplus_cost[p,t] * s[p,t] - sum_{p,t} holding_cost[p] * v[p,t]
    - sum_{c third_party} onboarding_cost[c] * y[c]
    - internal_shortfall_penalty * sum_{c internal} u[c]
    """
    ship = numbers.ship
    families = (
        (model.ship_racks, ship.cost[~ship.is_substitute]),
        (model.substitute_racks, ship.cost[ship.is_substitute]),
        (model.surplus_racks, numbers.surplus["cost"]),
        (model.stock_racks, numbers.stock["cost"]),
        (model.is_deal_accepted, numbers.deal["cost"]),
        (model.shortfall_racks, numbers.shortfall["cost"]),
    )
    coefs: list[float] = []
    variables: list[pyo.Var] = []
    for variable, cost in families:
        coefs += cost.tolist()
        variables += list(variable.values())
    model.objective = pyo.Objective(expr=linear(coefs, variables), sense=pyo.maximize)
