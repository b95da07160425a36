"""The two-stage plan's figures: RP, WS, EEV, VSS and EVPI from the solves' rows, with words.

``rp`` is the recourse problem's value (recomputed from its plans), ``ws`` the
probability-weighted objective of each scenario solved alone, ``eev`` the recourse
objective of the mean scenario's first stage (each scenario solved with it fixed:
- its surplus at the base instance's cost + sum_w prob(w) * (objective_w without its
surplus cost)). ``vss = rp - eev``, ``evpi = ws - rp``. A solve stopped within a MIP gap
leaves each figure in a range (``*_bound``: the same sum over the solves' bounds), so the
VSS and EVPI come with the range those gaps allow (``vss_low`` .. ``vss_high``); at
``--mip-gap 0`` the ranges close.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from allocator.formats import format_money, format_racks
from allocator.whatif.metrics import has_plan

Row = Mapping[str, Any]


def _bound(row: Row) -> float:
    """A solve's best bound (its objective when it has none: an LP, a proven optimum)."""
    bound = row.get("best_bound")
    return float(row["objective"] if bound is None else bound)


def _total(probability: Mapping[str, float], rows: Mapping[str, Row]) -> tuple[float, float] | None:
    """(sum_w prob(w) * objective_w, the same over bounds); None unless every scenario
    has a plan."""
    if any(not has_plan(dict(rows.get(name) or {})) for name in probability):
        return None
    value = sum(p * float(rows[name]["objective"]) for name, p in probability.items())
    bound = sum(p * _bound(rows[name]) for name, p in probability.items())
    return value, bound


def two_stage_figures(
    probability: Mapping[str, float],
    recourse: Row | None,
    alone: Mapping[str, Row],
    fixed: Mapping[str, Row],
    eev_infeasible: Mapping[str, list[str]],
    mean_surplus_cost: float | None,
) -> dict[str, Any]:
    """The figures of ``stochastic.json``: ``recourse`` is the recourse problem's row
    (``rp``, ``solver_objective``, ``best_bound``), ``alone`` each scenario's row solved
    alone, ``fixed`` each scenario's row with the mean scenario's first stage fixed,
    ``mean_surplus_cost`` that first stage's surplus at the base instance's costs."""
    figures: dict[str, Any] = dict.fromkeys(
        ("rp", "rp_bound", "ws", "ws_bound", "eev", "eev_bound", "vss", "evpi"), None
    )
    figures["eev_infeasible"] = sorted(eev_infeasible)
    if recourse is not None and recourse.get("rp") is not None:
        rp = float(recourse["rp"])
        figures["rp"] = rp
        solver = recourse.get("solver_objective")
        bound = recourse.get("best_bound")
        figures["rp_bound"] = (
            rp if bound is None or solver is None else rp + float(bound) - float(solver)
        )
    ws = _total(probability, alone)
    if ws is not None:
        figures["ws"], figures["ws_bound"] = ws
    if not eev_infeasible and mean_surplus_cost is not None:
        total = _total(probability, fixed)
        if total is not None:
            own = sum(
                p * float(fixed[name].get("surplus_cost") or 0.0) for name, p in probability.items()
            )
            figures["eev"] = total[0] - own - mean_surplus_cost
            figures["eev_bound"] = total[1] - own - mean_surplus_cost
    rp, rp_bound = figures["rp"], figures["rp_bound"]
    if rp is not None and figures["eev"] is not None:
        figures["vss"] = rp - figures["eev"]
        figures["vss_low"] = rp - figures["eev_bound"]
        figures["vss_high"] = rp_bound - figures["eev"]
    if rp is not None and figures["ws"] is not None:
        figures["evpi"] = figures["ws"] - rp
        figures["evpi_low"] = figures["ws"] - rp_bound
        figures["evpi_high"] = figures["ws_bound"] - rp
    return figures


def planner_words(
    figures: Mapping[str, Any], first_stage: pd.DataFrame, currency: str, labels: Mapping[int, str]
) -> list[str]:
    """The figures as sentences a planner reads (the report and the terminal say them)."""
    racks = float(first_stage["racks"].sum()) if len(first_stage) else 0.0
    months = sorted({int(period) for period in first_stage["period"]}) if len(first_stage) else []
    when = (
        f" over {len(months)} month{'s' if len(months) != 1 else ''} "
        f"({labels.get(months[0], months[0])} to {labels.get(months[-1], months[-1])})"
        if months
        else ""
    )
    commitment = f"{format_racks(racks)} surplus racks{when}"
    lines = [f"Two-stage plan: commit {commitment} before demand is known."]
    if figures.get("rp") is not None:
        lines.append(f"Expected objective of this plan (RP): {currency} {figures['rp']:,.0f}.")
    vss = figures.get("vss")
    if figures.get("eev_infeasible"):
        names = ", ".join(figures["eev_infeasible"])
        lines.append(
            "Planning for the average case is not an option: the mean scenario's first stage "
            f"does not fit scenario(s) {names}, so EEV and VSS are not defined."
        )
    elif vss is not None:
        low, high = figures.get("vss_low", vss), figures.get("vss_high", vss)
        spread = (
            ""
            if abs(high - low) < 0.5
            else (
                f", between {format_money(low, currency)} and {format_money(high, currency)} "
                "given the solves' MIP gaps"
            )
        )
        if high <= 0.5:
            lines.append(
                "Committing to this surplus is worth no more than planning for the average "
                f"case (VSS {format_money(vss, currency)}{spread})."
            )
        else:
            lines.append(
                f"Committing to this surplus is worth {format_money(vss, currency)} more on "
                f"average than planning for the average case (VSS{spread})."
            )
    evpi = figures.get("evpi")
    if evpi is not None:
        lines.append(
            "Knowing which scenario comes before committing would be worth "
            f"{format_money(evpi, currency)} on average (EVPI): the most better forecasts can "
            "be worth for this decision."
        )
    return lines
