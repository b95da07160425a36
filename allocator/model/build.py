"""The allocation MIP in Pyomo: one function per constraint family, in SPEC.md's order.

`build_model` reads like the model's table of contents. Every family function's
docstring starts with its formula (models/FORMULATION.md has the same sections under
the same names) and says over which keys it is enforced and which it skips. Component
names are the family names, so a conflict reads ``internal_fill[aws-us-east-1]``.

Expressions are built as `LinearExpression` from coefficient and variable lists:
the builder never goes through Pyomo's generic operator overloading.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

from allocator.data.instance import Instance
from allocator.plan.tables import Plan, committed_racks, empty_plan, shortfall_racks, stock_table


@dataclass(frozen=True)
class ModelOptions:
    """How to build the model: ``strict`` makes internal fill hard (no shortfall
    variable u); ``relax`` drops integrality (the LP relaxation)."""

    strict: bool = False
    relax: bool = False


def build_model(instance: Instance, options: ModelOptions) -> pyo.ConcreteModel:
    """The whole model: variables, then constraints 1-7, then the objective."""
    model = pyo.ConcreteModel(name=instance.name)
    add_ship_racks(model, instance, options)
    add_surplus_racks(model, instance, options)
    add_stock_racks(model, instance)
    add_is_deal_accepted(model, instance, options)
    add_shortfall_racks(model, instance, options)
    add_region_power_kw(model, instance)
    add_stock_balance(model, instance)
    add_foundry_surplus(model, instance)
    add_order_quantity(model, instance)
    add_internal_fill(model, instance)
    add_third_party_deal(model, instance)
    add_third_party_share(model, instance)
    add_region_power_balance(model, instance)
    add_region_power(model, instance)
    add_objective(model, instance)
    if not options.strict:
        set_plan_start(model, instance, empty_plan(instance))
    return model


def set_plan_start(model: pyo.ConcreteModel, instance: Instance, plan: Plan) -> None:
    """Set every variable to its value in ``plan``, a start for HiGHS.

    x, s and y come from the plan; v, u and w follow from them: v by the stock balance,
    u[c] = max(0, F(c) - shipped(c)), w[g,t] = kW delivered to g by t. With the empty
    plan (ship nothing) this is always feasible outside strict mode, so a time-limited
    MIP always has a plan to write.
    """
    shipped = {
        (order, int(period)): float(racks)
        for order, period, racks in zip(
            plan.allocation["order"],
            plan.allocation["ship_period"],
            plan.allocation["racks"],
            strict=True,
        )
    }
    for key, var in model.ship_racks.items():
        var.set_value(shipped.pop(key, 0.0), skip_validation=True)
    made = {
        (product, int(period)): float(racks)
        for product, period, racks in zip(
            plan.surplus["product"], plan.surplus["period"], plan.surplus["racks"], strict=True
        )
    }
    for key, var in model.surplus_racks.items():
        var.set_value(made.pop(key, 0.0), skip_validation=True)
    if shipped or made:
        raise ValueError(f"the plan uses variables the model does not have: {[*shipped, *made]}")
    for customer, var in model.is_deal_accepted.items():
        var.set_value(float(plan.deal_accepted.get(customer, 0.0)), skip_validation=True)
    stock = stock_table(instance, plan)
    for product, period, racks in zip(
        stock["product"], stock["period"], stock["stock"], strict=True
    ):
        model.stock_racks[product, int(period)].set_value(float(racks), skip_validation=True)
    shortfall = shortfall_racks(instance, plan)
    for customer, var in model.shortfall_racks.items():
        var.set_value(float(shortfall[customer]), skip_validation=True)
    allocation = plan.allocation
    delivered = pd.DataFrame(
        {
            "region": allocation["order"].map(instance.orders.set_index("order")["region"]),
            "period": allocation["ship_period"],
            "kw": allocation["product"].map(instance.products.set_index("product")["power_kw"])
            * allocation["racks"],
        }
    )
    by_region: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for region, period, kw in zip(
        delivered["region"], delivered["period"], delivered["kw"], strict=True
    ):
        by_region[str(region)].append((int(period), float(kw)))
    for (region, period), var in model.region_power_kw.items():
        used = sum(value for t, value in by_region.get(region, []) if t <= period)
        var.set_value(used, skip_validation=True)


Row = tuple[float | None, LinearExpression, float | None]
"""A constraint row as Pyomo's (lower, body, upper) tuple; None is no bound."""


def _linear(coefs: Sequence[float], variables: Sequence[pyo.Var]) -> LinearExpression:
    return LinearExpression(constant=0, linear_coefs=list(coefs), linear_vars=list(variables))


def _integer_domain(options: ModelOptions) -> pyo.Set:
    return pyo.NonNegativeReals if options.relax else pyo.NonNegativeIntegers


# --- variables -----------------------------------------------------------------------


def add_ship_racks(model: pyo.ConcreteModel, instance: Instance, options: ModelOptions) -> None:
    """0 <= x[o,t] <= q(o) integer: racks shipped to order o in period t, for t in W(o).

    W(o) = max(r(o), available_from(p(o))) .. min(r(o) + d(o), periods); an order with
    an empty window has no variable. The bound q(o) is implied by order_quantity (3);
    stating it lets HiGHS's domain propagation and reduced-cost fixing work on small
    ranges (a 20k-variable generated instance: 171 s -> 31 s to gap 1e-4).
    """
    orders = instance.orders
    bounds = {
        (order, period): (0, int(racks))
        for order, first, last, racks in zip(
            orders["order"],
            orders["first_ship"],
            orders["last_ship"],
            orders["racks"],
            strict=True,
        )
        for period in range(int(first), int(last) + 1)
    }
    model.ship_racks = pyo.Var(
        list(bounds),
        domain=_integer_domain(options),
        bounds=lambda _, o, t: bounds[o, t],
        dense=True,
    )


def add_surplus_racks(model: pyo.ConcreteModel, instance: Instance, options: ModelOptions) -> None:
    """0 <= s[p,t] <= surplus_max_racks[p,t] integer: surplus racks made.

    Only for t >= available_from(p) and surplus_max_racks[p,t] > 0 (elsewhere s = 0).
    """
    supply = instance.supply
    available_from = supply["product"].map(instance.products.set_index("product")["available_from"])
    made = supply[(supply["period"] >= available_from) & (supply["surplus_max_racks"] > 0)]
    bounds = {
        (product, int(period)): (0, int(high))
        for product, period, high in zip(
            made["product"], made["period"], made["surplus_max_racks"], strict=True
        )
    }
    model.surplus_racks = pyo.Var(
        list(bounds),
        domain=_integer_domain(options),
        bounds=lambda _, p, t: bounds[p, t],
        dense=True,
    )


def add_stock_racks(model: pyo.ConcreteModel, instance: Instance) -> None:
    """v[p,t] >= 0: racks of p in stock at the end of t, for every p and t = 1..periods."""
    keys = [
        (product, period)
        for product in instance.products["product"]
        for period in range(1, instance.periods + 1)
    ]
    model.stock_racks = pyo.Var(keys, domain=pyo.NonNegativeReals, dense=True)


def add_is_deal_accepted(
    model: pyo.ConcreteModel, instance: Instance, options: ModelOptions
) -> None:
    """y[c] binary: third-party c's deal is accepted (in [0, 1] when relaxed)."""
    customers = instance.customers
    third_party = customers.loc[customers["segment"] == "third_party", "customer"].tolist()
    domain = pyo.UnitInterval if options.relax else pyo.Binary
    model.is_deal_accepted = pyo.Var(third_party, domain=domain, dense=True)


def add_shortfall_racks(
    model: pyo.ConcreteModel, instance: Instance, options: ModelOptions
) -> None:
    """u[c] >= 0: racks internal c is short of its committed fill.

    Only for internal customers whose committed racks min_fill[c] * sum q(o) are > 0;
    none at all in strict mode, which makes internal fill hard (u = 0).
    """
    committed = committed_racks(instance)
    keys = [] if options.strict else [str(c) for c in committed.index[committed > 0]]
    model.shortfall_racks = pyo.Var(keys, domain=pyo.NonNegativeReals, dense=True)


# --- constraints ---------------------------------------------------------------------


def add_stock_balance(model: pyo.ConcreteModel, instance: Instance) -> None:
    """(1) v[p,t] - v[p,t-1] - s[p,t] + sum_{o: p(o)=p} x[o,t] = base_racks[p,t]

    Enforced over every product p and period t = 1..periods; v[p,0] is the constant
    initial_inventory[p], moved to the right-hand side of t = 1.
    """
    shipped: dict[tuple[str, int], list[pyo.Var]] = defaultdict(list)
    product_of = dict(zip(instance.orders["order"], instance.orders["product"], strict=True))
    for (order, period), var in model.ship_racks.items():
        shipped[product_of[order], period].append(var)
    initial = dict(
        zip(instance.products["product"], instance.products["initial_inventory"], strict=True)
    )
    rows: dict[Any, Row] = {}
    supply = instance.supply
    for product, period, base in zip(
        supply["product"], supply["period"], supply["base_racks"], strict=True
    ):
        key = (product, int(period))
        variables = [model.stock_racks[key]]
        coefs = [1.0]
        if period > 1:
            variables.append(model.stock_racks[product, period - 1])
            coefs.append(-1.0)
        if key in model.surplus_racks:
            variables.append(model.surplus_racks[key])
            coefs.append(-1.0)
        variables += shipped[key]
        coefs += [1.0] * len(shipped[key])
        rhs = float(base) + (float(initial[product]) if period == 1 else 0.0)
        rows[key] = (rhs, _linear(coefs, variables), rhs)
    model.stock_balance = pyo.Constraint(list(rows), rule=lambda _, p, t: rows[p, t])


def add_foundry_surplus(model: pyo.ConcreteModel, instance: Instance) -> None:
    """(2) sum_p wafers_per_rack[p] * s[p,t] <= surplus_wafers[t]

    Enforced over periods t that have at least one surplus variable.
    """
    wafers = dict(
        zip(instance.products["product"], instance.products["wafers_per_rack"], strict=True)
    )
    terms: dict[int, tuple[list[float], list[pyo.Var]]] = defaultdict(lambda: ([], []))
    for (product, period), var in model.surplus_racks.items():
        terms[period][0].append(float(wafers[product]))
        terms[period][1].append(var)
    rows: dict[Any, Row] = {
        period: (None, _linear(*terms[period]), float(instance.surplus_wafers[period]))
        for period in sorted(terms)
    }
    model.foundry_surplus = pyo.Constraint(list(rows), rule=lambda _, t: rows[t])


def _ship_vars_by_order(model: pyo.ConcreteModel) -> dict[str, list[pyo.Var]]:
    by_order: dict[str, list[pyo.Var]] = defaultdict(list)
    for (order, _period), var in model.ship_racks.items():
        by_order[order].append(var)
    return by_order


def _ship_vars_by_customer(
    model: pyo.ConcreteModel, instance: Instance
) -> dict[str, list[pyo.Var]]:
    customer_of = dict(zip(instance.orders["order"], instance.orders["customer"], strict=True))
    by_customer: dict[str, list[pyo.Var]] = defaultdict(list)
    for (order, _period), var in model.ship_racks.items():
        by_customer[customer_of[order]].append(var)
    return by_customer


def add_order_quantity(model: pyo.ConcreteModel, instance: Instance) -> None:
    """(3) sum_{t in W(o)} x[o,t] <= q(o)

    Enforced over orders with a non-empty ship window.
    """
    by_order = _ship_vars_by_order(model)
    quantity = dict(zip(instance.orders["order"], instance.orders["racks"], strict=True))
    rows: dict[Any, Row] = {
        order: (None, _linear([1.0] * len(variables), variables), float(quantity[order]))
        for order, variables in by_order.items()
    }
    model.order_quantity = pyo.Constraint(list(rows), rule=lambda _, o: rows[o])


def add_internal_fill(model: pyo.ConcreteModel, instance: Instance) -> None:
    """(4) sum_{o of c, t} x[o,t] + u[c] >= min_fill[c] * sum_{o of c} q(o)

    Enforced over internal customers whose committed racks are > 0; u[c] is absent in
    strict mode, making the fill hard.
    """
    by_customer = _ship_vars_by_customer(model, instance)
    rows: dict[Any, Row] = {}
    committed_by_customer = committed_racks(instance)
    for key, committed in committed_by_customer[committed_by_customer > 0].items():
        customer = str(key)
        variables = list(by_customer[customer])
        coefs = [1.0] * len(variables)
        if customer in model.shortfall_racks:
            variables.append(model.shortfall_racks[customer])
            coefs.append(1.0)
        rows[customer] = (float(committed), _linear(coefs, variables), None)
    model.internal_fill = pyo.Constraint(list(rows), rule=lambda _, c: rows[c])


def add_third_party_deal(model: pyo.ConcreteModel, instance: Instance) -> None:
    """(5) min_contract_racks[c] * y[c] <= sum_{o of c, t} x[o,t] <= (sum_{o of c} q(o)) * y[c]

    Enforced over third-party customers, as two rows: ``[c, "min"]`` and ``[c, "max"]``
    (the ``min`` row only where min_contract_racks[c] > 0).
    """
    by_customer = _ship_vars_by_customer(model, instance)
    ordered = instance.orders.groupby("customer")["racks"].sum()
    min_contract = dict(
        zip(instance.customers["customer"], instance.customers["min_contract_racks"], strict=True)
    )
    rows: dict[Any, Row] = {}
    for customer, accepted in model.is_deal_accepted.items():
        shipped = by_customer[customer]
        ones = [1.0] * len(shipped)
        if min_contract[customer] > 0:
            body = _linear([*ones, -float(min_contract[customer])], [*shipped, accepted])
            rows[customer, "min"] = (0.0, body, None)
        body = _linear([*ones, -float(ordered.get(customer, 0))], [*shipped, accepted])
        rows[customer, "max"] = (None, body, 0.0)
    model.third_party_deal = pyo.Constraint(list(rows), rule=lambda _, c, side: rows[c, side])


def add_third_party_share(model: pyo.ConcreteModel, instance: Instance) -> None:
    """(6) sum_{o third_party, t} x[o,t] <= third_party_max_share * sum_{o, t} x[o,t]

    One row, written as (1 - share) * x_third_party - share * x_internal <= 0; skipped
    when there are no third-party ship variables.
    """
    share = instance.policy.third_party_max_share
    segment_of = dict(zip(instance.orders["order"], instance.orders["segment"], strict=True))
    coefs, variables = [], []
    for (order, _period), var in model.ship_racks.items():
        coefs.append(1.0 - share if segment_of[order] == "third_party" else -share)
        variables.append(var)
    has_third_party = any(segment_of[o] == "third_party" for o, _ in model.ship_racks)
    rows: dict[Any, Row] = {}
    if has_third_party:
        rows["all"] = (None, _linear(coefs, variables), 0.0)
    model.third_party_share = pyo.Constraint(list(rows), rule=lambda _, k: rows[k])


def _region_power_rows(instance: Instance) -> dict[str, list[tuple[int, float]]]:
    """Per region, its regions.csv (period, power_kw) rows in period order."""
    rows: dict[str, list[tuple[int, float]]] = defaultdict(list)
    regions = instance.regions.sort_values(["region", "period"], kind="stable")
    for region, period, limit in zip(
        regions["region"], regions["period"], regions["power_kw"], strict=True
    ):
        rows[region].append((int(period), float(limit)))
    return rows


def add_region_power_kw(model: pyo.ConcreteModel, instance: Instance) -> None:
    """w[g,t] >= 0: kW of racks delivered to region g in periods 1..t.

    Only for the (g, t) rows of regions.csv, and only for regions some ship variable
    delivers to (elsewhere the limit is trivially met).
    """
    delivered = set(instance.orders["region"])
    keys = [
        (region, period)
        for region, rows in _region_power_rows(instance).items()
        if region in delivered
        for period, _limit in rows
    ]
    model.region_power_kw = pyo.Var(keys, domain=pyo.NonNegativeReals, dense=True)


def add_region_power_balance(model: pyo.ConcreteModel, instance: Instance) -> None:
    """(7a) w[g,t_k] - w[g,t_(k-1)] - sum_{o: region(c(o))=g} sum_{t_(k-1) < t' <= t_k}
    power_kw[p(o)] * x[o,t'] = 0

    Enforced over the keys of w; t_1 < t_2 < ... are the periods of g's rows and
    w[g,t_0] = 0 with t_0 = 0. Accumulating power period by period puts each x in one
    such row, where SPEC's cumulative sum (7) would put it in every later (g, t) row.
    """
    orders = instance.orders
    region_of = dict(zip(orders["order"], orders["region"], strict=True))
    product_of = dict(zip(orders["order"], orders["product"], strict=True))
    power = dict(zip(instance.products["product"], instance.products["power_kw"], strict=True))
    periods_of: dict[str, list[int]] = defaultdict(list)
    for region, period in model.region_power_kw:
        periods_of[region].append(period)
    terms: dict[tuple[str, int], tuple[list[float], list[pyo.Var]]] = defaultdict(lambda: ([], []))
    for (order, period), var in model.ship_racks.items():
        periods = periods_of.get(region_of[order])
        if not periods or period > periods[-1]:
            continue
        row_period = periods[bisect.bisect_left(periods, period)]
        coefs, variables = terms[region_of[order], row_period]
        coefs.append(-float(power[product_of[order]]))
        variables.append(var)
    rows: dict[Any, Row] = {}
    for region, periods in periods_of.items():
        for k, period in enumerate(periods):
            coefs, variables = terms[region, period]
            coefs, variables = [1.0, *coefs], [model.region_power_kw[region, period], *variables]
            if k > 0:
                coefs.append(-1.0)
                variables.append(model.region_power_kw[region, periods[k - 1]])
            rows[region, period] = (0.0, _linear(coefs, variables), 0.0)
    model.region_power_balance = pyo.Constraint(list(rows), rule=lambda _, g, t: rows[g, t])


def add_region_power(model: pyo.ConcreteModel, instance: Instance) -> None:
    """(7) w[g,t] <= power_kw[g,t]

    With (7a) this is SPEC's sum_{o: region(c(o)) = g} sum_{t' <= t} power_kw[p(o)] *
    x[o,t'] <= power_kw[g,t]; its dual is the value of one more kW in g by t. Enforced
    over the keys of w.
    """
    limits = {
        (region, period): limit
        for region, rows in _region_power_rows(instance).items()
        for period, limit in rows
    }
    rows: dict[Any, Row] = {
        key: (None, _linear([1.0], [var]), limits[key])
        for key, var in model.region_power_kw.items()
    }
    model.region_power = pyo.Constraint(list(rows), rule=lambda _, g, t: rows[g, t])


# --- objective -----------------------------------------------------------------------


def add_objective(model: pyo.ConcreteModel, instance: Instance) -> None:
    """maximize  sum_{o,t} (pi(o) + m(o) - k(o) * (t - r(o))) * x[o,t]
    - sum_{p,t} surplus_cost[p,t] * s[p,t] - sum_{p,t} holding_cost[p] * v[p,t]
    - sum_{c third_party} onboarding_cost[c] * y[c]
    - internal_shortfall_penalty * sum_{c internal} u[c]
    """
    orders = instance.orders.set_index("order")
    unit_value = (orders["price_per_rack"] + orders["margin_per_rack"]).to_dict()
    delay_penalty = orders["delay_penalty"].to_dict()
    requested = orders["period"].to_dict()
    coefs: list[float] = []
    variables: list[pyo.Var] = []
    for (order, period), var in model.ship_racks.items():
        coefs.append(unit_value[order] - delay_penalty[order] * (period - requested[order]))
        variables.append(var)
    surplus_cost = instance.supply.set_index(["product", "period"])["surplus_cost"]
    for key, var in model.surplus_racks.items():
        coefs.append(-float(surplus_cost[key]))
        variables.append(var)
    holding = dict(
        zip(instance.products["product"], instance.products["holding_cost"], strict=True)
    )
    for (product, _period), var in model.stock_racks.items():
        coefs.append(-float(holding[product]))
        variables.append(var)
    onboarding = dict(
        zip(instance.customers["customer"], instance.customers["onboarding_cost"], strict=True)
    )
    for customer, var in model.is_deal_accepted.items():
        coefs.append(-float(onboarding[customer]))
        variables.append(var)
    penalty = float(instance.policy.internal_shortfall_penalty)
    for var in model.shortfall_racks.values():
        coefs.append(-penalty)
        variables.append(var)
    model.objective = pyo.Objective(
        expr=_linear(np.asarray(coefs, dtype=float).tolist(), variables), sense=pyo.maximize
    )
