"""The rows of ``sweep.csv`` and the policy-cost table, from what each scenario's solve gave.

A row holds the solve's status, objective terms and fill figures; the sweep table adds
the value of a surplus wafer along the surplus axis, the policy-cost table what each
policy costs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.solver.pipeline import SolveResult
from allocator.whatif.scenarios import ScenarioOutcome
from allocator.whatif.spec import BASE_SCENARIO, POLICY_DROPS, PolicyDrop, Scenario, Target, Value

METRIC_COLUMNS: tuple[str, ...] = (
    "status",
    "objective",
    "best_bound",
    "mip_gap",
    "rack_revenue_internal",
    "rack_revenue_third_party",
    "service_margin",
    "surplus_cost",
    "shortfall_penalty",
    "internal_fill_rate",
    "internal_waiting_list_racks",
    "third_party_racks",
    "surplus_racks",
    "surplus_wafers_used",
    "surplus_wafers_offered",
    "deals_accepted",
    "marginal_value_per_wafer",
    "solve_seconds",
    "seconds",
    "worker",
    "message",
)


def outcome_row(outcome: ScenarioOutcome) -> dict[str, Any]:
    """The sweep row of a finished scenario (without its coordinates)."""
    instance = outcome.instance
    row: dict[str, Any] = {
        "surplus_wafers_offered": float(instance.surplus_wafers.sum()),
        "seconds": round(outcome.seconds, 6),
        "worker": outcome.worker,
    }
    result = outcome.result
    if result is None:
        shown = ", ".join(outcome.conflicts) or "(none identified)"
        return row | {"status": "infeasible", "message": f"conflicts: {shown}"}
    row |= {
        "status": str(result.status),
        "best_bound": result.best_bound,
        "mip_gap": result.mip_gap,
        "solve_seconds": round(result.solve_seconds, 6),
    }
    if result.plan is None:
        return row | {"message": "no plan: the solver stopped without one"}
    if result.violations:
        return row | {"status": "error", "message": "plan fails its own check"}
    return row | {"objective": result.objective} | plan_metrics(result)


def plan_metrics(result: SolveResult) -> dict[str, Any]:
    """Objective terms and fill figures of a plan, as sweep columns."""
    from allocator.plan.tables import customer_table

    instance, plan, terms = result.instance, result.plan, result.objective_terms
    assert plan is not None
    customers = customer_table(instance, plan)
    internal = customers[customers["segment"] == "internal"]
    requested = float(internal["requested"].sum())
    allocated = float(internal["allocated"].sum())
    wafers_per_rack = plan.surplus["product"].map(
        instance.products.set_index("product")["wafers_per_rack"]
    )
    return {
        "rack_revenue_internal": terms.get("rack_revenue_internal", 0.0),
        "rack_revenue_third_party": terms.get("rack_revenue_third_party", 0.0),
        "service_margin": sum(
            value for name, value in terms.items() if name.startswith("service_margin_")
        ),
        "surplus_cost": terms.get("surplus_cost", 0.0),
        "shortfall_penalty": terms.get("shortfall_penalty", 0.0),
        "internal_fill_rate": allocated / requested if requested else None,
        "internal_waiting_list_racks": requested - allocated,
        "third_party_racks": float(
            customers.loc[customers["segment"] == "third_party", "allocated"].sum()
        ),
        "surplus_racks": float(plan.surplus["racks"].sum()),
        "surplus_wafers_used": float((plan.surplus["racks"] * wafers_per_rack).sum()),
        "deals_accepted": int((plan.deal_accepted > 0.5).sum()),
    }


def has_plan(row: dict[str, Any] | None) -> bool:
    return row is not None and row.get("objective") is not None


def sweep_table(
    base: Instance,
    scenarios: Sequence[Scenario],
    hashes: dict[str, str],
    rows: dict[str, dict[str, Any]],
    targets: Sequence[Target],
) -> pd.DataFrame:
    """One row per scenario (``pending`` until it arrives), with the finite-difference
    value of a surplus wafer along each line of the surplus axis."""
    records = []
    for scenario in scenarios:
        record: dict[str, Any] = {
            "scenario": scenario.name,
            "kind": scenario.kind,
            "policy_dropped": scenario.policy or "",
            "surplus_scale": scenario.surplus_scale,
        }
        record |= {
            target.name: _coordinate(target, scenario.value(target, base)) for target in targets
        }
        record |= {column: None for column in METRIC_COLUMNS}
        record |= rows.get(scenario.name, {"status": "pending"})
        record["hash"] = hashes[scenario.name][:16]
        records.append(record)
    columns = ["scenario", "kind", "policy_dropped", "surplus_scale"]
    columns += [target.name for target in targets] + [*METRIC_COLUMNS, "hash"]
    table = pd.DataFrame.from_records(records, columns=columns)
    table["marginal_value_per_wafer"] = marginal_values_per_wafer(table, targets)
    for target in targets:
        if target.is_delay:
            table.insert(
                list(table.columns).index("hash"),
                slip_cost_column(target),
                slip_costs(table, target, targets),
            )
    return table


def _coordinate(target: Target, value: Value) -> Value:
    """A delay is whole months; other values as they are."""
    return int(value) if target.is_delay else value


def slip_cost_column(target: Target) -> str:
    """``slip_cost_trainium4`` for ``delay.trainium4``."""
    return f"slip_cost_{target.column}"


def slip_costs(table: pd.DataFrame, delay: Target, targets: Sequence[Target]) -> pd.Series:
    """What a product's delay costs: the objective with the product on time (delay 0) at
    the same surplus scale and other values, minus this row's objective (sweep rows only;
    0 at delay 0). The difference of the plans found: exact at --mip-gap 0."""
    costs = pd.Series(np.nan, index=table.index, dtype="float64")
    sweep = table[table["kind"] == "sweep"]
    keys = ["surplus_scale", *(t.name for t in targets if t != delay)]
    objective = pd.to_numeric(sweep["objective"], errors="coerce")
    for _, line in sweep.groupby(keys, sort=False, dropna=False):
        on_time = objective[line.index][line[delay.name] == 0]
        if len(on_time) == 1:
            costs.loc[line.index] = on_time.iloc[0] - objective[line.index]
    return costs


def marginal_values_per_wafer(table: pd.DataFrame, targets: Sequence[Target]) -> pd.Series:
    """(objective - previous objective) / (wafers offered - previous wafers offered)
    between consecutive surplus scales of the same other coordinates (sweep rows only).
    Exact for the MIP when both points are solved to optimality (--mip-gap 0)."""
    values = pd.Series(np.nan, index=table.index, dtype="float64")
    sweep = table[table["kind"] == "sweep"]
    keys = [target.name for target in targets]
    groups = sweep.groupby(keys, sort=False, dropna=False) if keys else [((), sweep)]
    for _, line in groups:
        line = line.sort_values("surplus_scale")
        objective = pd.to_numeric(line["objective"], errors="coerce")
        wafers = pd.to_numeric(line["surplus_wafers_offered"], errors="coerce")
        step = wafers.diff()
        value = objective.diff() / step.where(step.abs() > 1e-12)
        values.loc[line.index] = value.to_numpy()
    return values


def policy_cost_table(
    rows: dict[str, dict[str, Any]], drops: Sequence[PolicyDrop] = POLICY_DROPS
) -> pd.DataFrame:
    """What each policy costs: objective without it minus objective with it.

    Dropping a constraint cannot lower a maximum, so the true cost is >= 0. With a MIP
    gap both objectives are only within their bounds, so the true cost lies in
    [objective_without - bound_with, bound_without - objective_with]; ``cost`` is the
    difference of the plans found, floored at 0. At --mip-gap 0 all three agree.
    ``of_which_shortfall_penalty`` is the part that is the internal shortfall penalty no
    longer paid (most of what dropping the min fill gains)."""
    base = rows.get(BASE_SCENARIO)
    records = []
    for drop in drops:
        without = rows.get(drop.scenario)
        record: dict[str, Any] = {
            "policy": drop.policy,
            "description": drop.description,
            "scenario": drop.scenario,
            "objective_with": base.get("objective") if base else None,
            "objective_without": without.get("objective") if without else None,
        }
        if base is not None and without is not None and has_plan(base) and has_plan(without):
            with_objective, without_objective = base["objective"], without["objective"]
            with_bound = _bound(base)
            without_bound = _bound(without)
            difference = without_objective - with_objective
            penalty = (without.get("shortfall_penalty") or 0.0) - (
                base.get("shortfall_penalty") or 0.0
            )
            record |= {
                "objective_difference": difference,
                "of_which_shortfall_penalty": penalty,
                "cost": max(0.0, difference),
                "cost_low": max(0.0, without_objective - with_bound),
                "cost_high": max(0.0, without_bound - with_objective),
                "exact": base.get("status") == "optimal"
                and without.get("status") == "optimal"
                and not base.get("mip_gap")
                and not without.get("mip_gap"),
            }
        records.append(record)
    columns = [
        "policy",
        "description",
        "scenario",
        "objective_with",
        "objective_without",
        "objective_difference",
        "of_which_shortfall_penalty",
        "cost",
        "cost_low",
        "cost_high",
        "exact",
    ]
    return pd.DataFrame.from_records(records, columns=columns)


def _bound(row: dict[str, Any]) -> float:
    bound = row.get("best_bound")
    objective = float(row["objective"])
    if bound is None or not math.isfinite(float(bound)):
        return objective
    return max(float(bound), objective)
