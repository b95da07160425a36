"""HiGHS's own time to gap 1e-4 on one instance, formulation by formulation.

    python benchmarks/formulations.py INSTANCE [--variants baseline,deal_per_order,...]
        [--seeds 1,2,3] [--mip-gap 1e-4] [--time-limit 900] [--csv OUT.csv]

Each variant is the model of `allocator.model.build.build_model` changed in one way (a
formulation) or solved with one HiGHS option changed (a setting), or several joined
by ``+`` (``deal_per_order+presolve_off``); everything else is
allocator's normal solve: one thread, the ship-nothing start, allocator's HiGHS options.
Only HiGHS's ``run()`` is timed. Per variant and seed it prints HiGHS's time, status,
gap, branch-and-bound nodes, the plan's objective and the LP relaxation's bound of that
formulation (the tighter, the less branching), then the median time per variant and its
ratio to the first variant. Different seeds take different search paths: compare
medians, not single runs.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

from allocator.data.instance import Instance
from allocator.data.validate import load_instance
from allocator.model.build import ModelOptions, build_model
from allocator.solver.highs import SolverOptions, _make_highs, compile_model, solve_compiled
from allocator.solver.pipeline import gc_paused

Change = Callable[[pyo.ConcreteModel, Instance], None]


def deal_per_order(model: pyo.ConcreteModel, instance: Instance) -> None:
    """Third-party orders: sum_t x[o,t] <= q(o) * y[c(o)] instead of sum_t x[o,t] <= q(o),
    and the customer's aggregate row sum_{o of c,t} x[o,t] <= Q(c) * y[c] dropped (it is
    the sum of the per-order rows). Same integer points, a tighter LP relaxation."""
    orders = instance.orders
    customer_of = dict(zip(orders["order"], orders["customer"], strict=True))
    quantity = dict(zip(orders["order"], orders["racks"], strict=True))
    by_order: dict[str, list[Any]] = defaultdict(list)
    for (order, _period), var in model.ship_racks.items():
        by_order[order].append(var)
    for order, variables in by_order.items():
        customer = customer_of[order]
        if customer not in model.is_deal_accepted:
            continue
        body = LinearExpression(
            constant=0,
            linear_coefs=[1.0] * len(variables) + [-float(quantity[order])],
            linear_vars=[*variables, model.is_deal_accepted[customer]],
        )
        model.order_quantity[order].set_value((None, body, 0.0))
    for customer in model.is_deal_accepted:
        model.third_party_deal[customer, "max"].deactivate()


def deal_per_column(model: pyo.ConcreteModel, instance: Instance) -> None:
    """deal_per_order and also x[o,t] <= q(o) * y[c(o)] for every third-party column:
    the tightest relaxation of the deal, one more row per column."""
    deal_per_order(model, instance)
    customer_of = dict(zip(instance.orders["order"], instance.orders["customer"], strict=True))
    rows = {
        (order, period): (
            None,
            LinearExpression(
                constant=0,
                linear_coefs=[1.0, -float(var.ub)],
                linear_vars=[var, model.is_deal_accepted[customer_of[order]]],
            ),
            0.0,
        )
        for (order, period), var in model.ship_racks.items()
        if customer_of[order] in model.is_deal_accepted
    }
    model.deal_column = pyo.Constraint(list(rows), rule=lambda _, o, t: rows[o, t])


def region_cumulative(model: pyo.ConcreteModel, instance: Instance) -> None:
    """SPEC's region power (7) as written: sum_{o in g} sum_{t' <= t} power * x[o,t']
    <= power_kw[g,t] per row, instead of the accumulated w[g,t] of (7a)."""
    orders = instance.orders
    region_of = dict(zip(orders["order"], orders["region"], strict=True))
    product_of = dict(zip(orders["order"], orders["product"], strict=True))
    power = dict(zip(instance.products["product"], instance.products["power_kw"], strict=True))
    by_region: dict[str, list[tuple[int, float, Any]]] = defaultdict(list)
    for (order, period), var in model.ship_racks.items():
        by_region[region_of[order]].append((period, float(power[product_of[order]]), var))
    rows = {}
    for region, period in model.region_power_kw:
        terms = [(kw, x) for t, kw, x in by_region[region] if t <= period]
        body = LinearExpression(
            constant=0, linear_coefs=[kw for kw, _ in terms], linear_vars=[x for _, x in terms]
        )
        rows[region, period] = (None, body, pyo.value(model.region_power[region, period].upper))
    model.region_power_balance.deactivate()
    model.region_power.deactivate()
    for var in model.region_power_kw.values():
        var.fix(0)
    model.region_cumulative = pyo.Constraint(list(rows), rule=lambda _, g, t: rows[g, t])


def share_totals(model: pyo.ConcreteModel, instance: Instance) -> None:
    """The share cap (6) on two totals instead of every ship column: X_tp = sum of the
    third-party x, X_in = sum of the internal x (two rows), (1 - share) X_tp - share X_in
    <= 0 (two entries). The same plans and LP; the long row is gone from propagation."""
    if "all" not in model.third_party_share:
        return
    row = model.third_party_share["all"]
    third: list[Any] = []
    internal: list[Any] = []
    for coef, var in zip(row.body.linear_coefs, row.body.linear_vars, strict=True):
        (third if coef > 0 else internal).append(var)
    share = instance.policy.third_party_max_share
    model.share_total = pyo.Var(["third_party", "internal"], domain=pyo.NonNegativeReals)
    totals = {"third_party": third, "internal": internal}
    model.share_total_rows = pyo.Constraint(
        list(totals),
        rule=lambda m, k: (
            0.0,
            LinearExpression(
                constant=0,
                linear_coefs=[1.0] * len(totals[k]) + [-1.0],
                linear_vars=[*totals[k], m.share_total[k]],
            ),
            0.0,
        ),
    )
    row.set_value(
        (
            None,
            LinearExpression(
                constant=0,
                linear_coefs=[1.0 - share, -share],
                linear_vars=[model.share_total["third_party"], model.share_total["internal"]],
            ),
            0.0,
        )
    )


def customer_totals(model: pyo.ConcreteModel, instance: Instance) -> None:
    """Racks shipped per customer as a variable r[c] = sum_{o of c,p,t} x[o,p,t] (one
    row per customer); the internal fill, the deal rows and the share cap (6) are written
    on r (the share row gets one entry per customer instead of one per ship column)."""
    if "all" not in model.third_party_share:
        return
    orders = instance.orders
    customer_of = dict(zip(orders["order"], orders["customer"], strict=True))
    third_party = set(
        instance.customers.loc[instance.customers["segment"] == "third_party", "customer"]
    )
    columns: dict[str, list[Any]] = defaultdict(list)
    for (order, _period), var in model.ship_racks.items():
        columns[customer_of[order]].append(var)
    if hasattr(model, "substitute_racks"):
        for (order, _product, _period), var in model.substitute_racks.items():
            columns[customer_of[order]].append(var)
    names = sorted(columns)
    model.customer_racks = pyo.Var(names, domain=pyo.NonNegativeReals)
    model.customer_racks_rows = pyo.Constraint(
        names,
        rule=lambda m, c: (
            0.0,
            LinearExpression(
                constant=0,
                linear_coefs=[1.0] * len(columns[c]) + [-1.0],
                linear_vars=[*columns[c], m.customer_racks[c]],
            ),
            0.0,
        ),
    )
    total = model.customer_racks

    def swap(row: Any, customer: str) -> None:
        body = row.body
        keep = [
            (coef, var)
            for coef, var in zip(body.linear_coefs, body.linear_vars, strict=True)
            if var.parent_component()
            not in (model.ship_racks, getattr(model, "substitute_racks", None))
        ]
        coefs = [1.0] + [coef for coef, _ in keep]
        variables = [total[customer]] + [var for _, var in keep]
        row.set_value(
            (
                row.lower,
                LinearExpression(constant=0, linear_coefs=coefs, linear_vars=variables),
                row.upper,
            )
        )

    for customer in model.internal_fill:
        if customer in columns:
            swap(model.internal_fill[customer], customer)
    for customer, side in model.third_party_deal:
        if customer in columns:
            swap(model.third_party_deal[customer, side], customer)
    share = instance.policy.third_party_max_share
    model.third_party_share["all"].set_value(
        (
            None,
            LinearExpression(
                constant=0,
                linear_coefs=[(1.0 - share) if c in third_party else -share for c in names],
                linear_vars=[total[c] for c in names],
            ),
            0.0,
        )
    )


def share_off(model: pyo.ConcreteModel, instance: Instance) -> None:
    """Diagnostic only, another model (not in the default ``--variants``): the share
    cap (6) dropped, to see how much of HiGHS's time the one long row costs."""
    model.third_party_share.deactivate()


FORMULATIONS: dict[str, Change | None] = {
    "baseline": None,
    "deal_per_order": deal_per_order,
    "deal_per_column": deal_per_column,
    "region_cumulative": region_cumulative,
    "share_totals": share_totals,
    "customer_totals": customer_totals,
    "share_off": share_off,
}
DIAGNOSTICS = {"share_off"}
"""Variants that change the model's plans, run only when named."""
SETTINGS: dict[str, dict[str, Any]] = {
    "presolve_off": {"presolve": "off"},
    "heuristics_less": {"mip_heuristic_effort": 0.01},
    "heuristics_more": {"mip_heuristic_effort": 0.2},
    "symmetry_off": {"mip_detect_symmetry": False},
    "sub_mip_off": {"mip_heuristic_run_rens": False, "mip_heuristic_run_rins": False},
}


def measure(
    instance: Instance, variant: str, seed: int, mip_gap: float, time_limit: float
) -> dict[str, Any]:
    parts = variant.split("+")
    settings = {name: value for part in parts for name, value in SETTINGS.get(part, {}).items()}
    with gc_paused():
        model = build_model(instance, ModelOptions())
        for part in parts:
            change = FORMULATIONS.get(part)
            if change is not None:
                change(model, instance)
        compiled = compile_model(model)
    options = SolverOptions(mip_gap=mip_gap, time_limit=time_limit, seed=seed)
    relaxation = solve_compiled(compiled, options, integer=False)
    highs = _make_highs(compiled, options, integer=True)
    for name, value in settings.items():
        highs.setOptionValue(name, value)
    started = time.perf_counter()
    highs.run()
    seconds = time.perf_counter() - started
    info = highs.getInfo()
    return {
        "variant": variant,
        "seed": seed,
        "columns": compiled.lp.num_col_,
        "rows": compiled.lp.num_row_,
        "highs_seconds": round(seconds, 2),
        "status": highs.modelStatusToString(highs.getModelStatus()),
        "mip_gap": info.mip_gap,
        "nodes": info.mip_node_count,
        "objective": info.objective_function_value,
        "lp_bound": relaxation.objective,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instance", type=Path)
    defaults = [name for name in [*FORMULATIONS, *SETTINGS] if name not in DIAGNOSTICS]
    parser.add_argument("--variants", default=",".join(defaults))
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--mip-gap", type=float, default=1e-4)
    parser.add_argument("--time-limit", type=float, default=900.0)
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = [
        part
        for variant in variants
        for part in variant.split("+")
        if part not in FORMULATIONS and part not in SETTINGS
    ]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {[*FORMULATIONS, *SETTINGS]}")
    instance = load_instance(args.instance)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for variant in variants:
            row = measure(instance, variant, seed, args.mip_gap, args.time_limit)
            rows.append(row)
            print(" ".join(f"{key}={value}" for key, value in row.items()), flush=True)
            if args.csv:
                with args.csv.open("w", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=list(row))
                    writer.writeheader()
                    writer.writerows(rows)
    first = statistics.median(r["highs_seconds"] for r in rows if r["variant"] == variants[0])
    print(f"\n| variant | median HiGHS s | ratio to {variants[0]} | nodes (median) | LP bound |")
    print("|---|---|---|---|---|")
    for variant in variants:
        own = [r for r in rows if r["variant"] == variant]
        median = statistics.median(r["highs_seconds"] for r in own)
        nodes = statistics.median(r["nodes"] for r in own)
        print(
            f"| {variant} | {median:.2f} | {median / first:.2f}x | {nodes:.0f} "
            f"| {own[0]['lp_bound']:,.0f} |"
        )


if __name__ == "__main__":
    main()
