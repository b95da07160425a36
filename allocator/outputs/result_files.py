"""Write a solve's result folder: summary.json and the plan's CSVs. Never imports Pyomo.

A result folder is written whole or not at all: every file goes into a temporary
sibling folder, which then replaces ``DIR`` by rename, so a failed or interrupted run
never leaves a half-written ``DIR`` and never damages the previous result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from allocator.atomic import publish_folder, write_json
from allocator.data.instance import Instance
from allocator.errors import InfeasibleError
from allocator.explain.why import why_short_column
from allocator.plan.tables import customer_table, stock_table

if TYPE_CHECKING:  # the pipeline imports Pyomo; this module only reads its results
    from allocator.solver.pipeline import RunOptions, SolveResult


def summary_dict(result: SolveResult, source: str) -> dict[str, Any]:
    """Everything `summary.json` holds: outcome, objective split, provenance."""
    instance = result.instance
    summary: dict[str, Any] = {
        "status": str(result.status),
        "solution": str(result.solution),
        "objective": result.objective,
        "best_bound": result.best_bound,
        "mip_gap": result.mip_gap,
        "plan_source": result.plan_source,
        "best_bound_source": result.bound_source,
        "solve_seconds": round(result.solve_seconds, 6),
        "solver_objective": result.solver_objective,
        "objective_terms": result.objective_terms,
        "currency": instance.settings.currency,
        "problem": "lp_relaxation" if result.options.relax else "mip",
        "marginal_values_source": result.marginal_values_source,
        "plan_violations": result.violations,
    }
    if result.priority_stages:
        summary["priority_rule"] = instance.policy.priority_rule
        summary["fair_share"] = instance.policy.fair_share
        summary["priority_stages"] = [report.as_dict() for report in result.priority_stages]
        if result.options.priority_cost:
            summary["priority_cost"] = result.priority_cost
    if result.plan is not None:
        customers = customer_table(instance, result.plan)
        summary["fill"] = fill_summary(customers)
        summary["surplus_racks"] = float(result.plan.surplus["racks"].sum())
        summary["deals_accepted"] = int((result.plan.deal_accepted > 0.5).sum())
    if result.plans_found:
        summary["plans_found"] = list(result.plans_found)
    summary.update(_provenance(instance, result.options, source, result.versions))
    summary["timings_seconds"] = {key: round(value, 6) for key, value in result.timings.items()}
    return summary


def fill_summary(customers: pd.DataFrame) -> dict[str, Any]:
    fill: dict[str, Any] = {}
    for segment in ("internal", "third_party"):
        rows = customers[customers["segment"] == segment]
        requested = float(rows["requested"].sum())
        allocated = float(rows["allocated"].sum())
        fill[segment] = {
            "requested_racks": requested,
            "allocated_racks": allocated,
            "fill_rate": allocated / requested if requested else None,
            "waiting_list_racks": requested - allocated,
        }
    internal = customers[customers["segment"] == "internal"]
    fill["lowest_internal_fill_rate"] = (
        float(internal["fill_rate"].min()) if len(internal) else None
    )
    if "priority" in customers.columns:  # the lexicographic rule: fill by tier
        fill["by_tier"] = tier_fill(customers).to_dict("records")
    return fill


def tier_fill(customers: pd.DataFrame) -> pd.DataFrame:
    """Per tier: customers, racks requested and allocated, fill rate, and the lowest fill
    rate of a customer with orders (the fair-share criterion F_k)."""
    ordered = customers[customers["requested"] > 0]
    lowest = ordered.groupby("priority")["fill_rate"].min()
    table = customers.groupby("priority", as_index=False).agg(
        customers=("customer", "count"),
        requested_racks=("requested", "sum"),
        allocated_racks=("allocated", "sum"),
    )
    table["fill_rate"] = table["allocated_racks"] / table["requested_racks"].where(
        table["requested_racks"] > 0
    )
    table["lowest_fill_rate"] = table["priority"].map(lowest)
    table = table.rename(columns={"priority": "tier"}).astype({"tier": int})
    return table.astype(object).where(table.notna(), None)


def _provenance(
    instance: Instance, options: RunOptions, source: str, version_info: dict[str, str]
) -> dict[str, Any]:
    return {
        "instance": {
            "name": instance.name,
            "source": source,
            "content_hash": instance.content_hash,
            "periods": instance.periods,
            "start": instance.settings.start,
        },
        "versions": version_info,
        "options": options.as_dict(),
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def result_files(result: SolveResult) -> dict[str, pd.DataFrame]:
    """The CSV tables of a solve with a plan, by file name."""
    assert result.plan is not None
    customers = customer_table(result.instance, result.plan)
    customers["why_short"] = why_short_column(
        result.instance,
        result.plan.allocation,
        result.plan.surplus,
        customers,
        result.marginal_values,
    )
    files = {
        "allocation.csv": result.plan.allocation,
        "surplus.csv": result.plan.surplus,
        "customers.csv": customers,
        "stock.csv": stock_table(result.instance, result.plan),
    }
    if result.marginal_values is not None:
        files["marginal_values.csv"] = result.marginal_values
    return files


def write_result(
    result: SolveResult,
    out_dir: Path,
    source: str,
    *,
    extra_json: dict[str, Any] | None = None,
    protected: Sequence[Path] = (),
) -> None:
    """All outputs of a solve with a plan into ``out_dir``, atomically; ``extra_json``:
    more JSON files (name -> data) that appear with them (a what-if done-marker);
    ``protected``: the instance path, which ``out_dir`` must not be or hold."""

    def fill(folder: Path) -> None:
        for name, frame in result_files(result).items():
            frame.to_csv(folder / name, index=False, lineterminator="\n")
        write_json(folder / "summary.json", summary_dict(result, source))
        for name, data in (extra_json or {}).items():
            write_json(folder / name, data)

    publish_folder(out_dir, fill, protected=protected)


def write_infeasible(
    error: InfeasibleError,
    instance: Instance,
    options: RunOptions,
    out_dir: Path,
    source: str,
    *,
    extra_json: dict[str, Any] | None = None,
    protected: Sequence[Path] = (),
) -> None:
    """``summary.json`` (status infeasible) and ``conflicts.csv`` naming the clashing rows."""

    def fill(folder: Path) -> None:
        summary = {
            "status": "infeasible",
            "objective": None,
            "best_bound": None,
            "mip_gap": None,
            "solve_seconds": None,
            "conflicts": list(error.conflicts),
            "conflict_method": error.method,
        }
        from allocator.solver.pipeline import versions

        summary.update(_provenance(instance, options, source, versions()))
        write_json(folder / "summary.json", summary)
        pd.DataFrame({"constraint": list(error.conflicts)}).to_csv(
            folder / "conflicts.csv", index=False, lineterminator="\n"
        )
        for name, data in (extra_json or {}).items():
            write_json(folder / name, data)

    publish_folder(out_dir, fill, protected=protected)
