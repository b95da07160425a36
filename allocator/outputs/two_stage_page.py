"""report.html's sections of a two-stage plan: the commitment's worth, per month, per scenario.

Read from the folder's ``stochastic.json``, ``first_stage.csv`` and
``scenario_results.csv`` (`allocator.stochastic`): the planner's sentences (RP, VSS,
EVPI), the figures with the range the solves' MIP gaps leave, the first-stage surplus
racks per month by product (a chart and a table), and each scenario under the two-stage
plan, alone, and with the mean scenario's first stage. Never imports Pyomo.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from allocator.outputs.folder import ResultFolder
from allocator.outputs.page_blocks import figure_html, note_html, section_html
from allocator.outputs.page_formats import (
    show_full_money,
    show_money,
    show_racks,
    show_rate,
    show_text,
)
from allocator.outputs.page_tables import Column, table_html

FIGURES = (
    ("rp", "RP: expected objective of the two-stage plan", None),
    ("ws", "WS: each scenario solved alone, weighted", None),
    ("eev", "EEV: the mean scenario's first stage in every scenario", None),
    ("vss", "VSS = RP - EEV: what planning for the scenarios is worth", ("vss_low", "vss_high")),
    (
        "evpi",
        "EVPI = WS - RP: what knowing the scenario first would be worth",
        ("evpi_low", "evpi_high"),
    ),
)
SOLVES = (
    ("recourse", "two-stage plan"),
    ("wait_and_see", "alone"),
    ("mean_first_stage", "mean's first stage"),
)


def two_stage_sections(folder: ResultFolder) -> list[str]:
    """The sections of a two-stage plan's folder."""
    record = folder.stochastic or {}
    words = "".join(note_html(line) for line in record.get("summary", []))
    sections = [
        section_html(
            "two-stage",
            "Two-stage plan: surplus committed before demand is known",
            words,
            table_html("table-two-stage", *_figure_columns(folder, record)),
        )
    ]
    first = folder.first_stage if folder.first_stage is not None else pd.DataFrame()
    sections.append(
        section_html(
            "first-stage",
            "First-stage surplus racks per month",
            note_html(
                "Surplus racks ordered from the foundry now, the same whichever scenario comes "
                f"({show_racks(float(first['racks'].sum()) if len(first) else 0)} racks)."
            ),
            figure_html(_first_stage_figure(folder, first), "chart-first-stage", 360),
            table_html(
                "table-first-stage",
                ("product", first.get("product", pd.Series(dtype=str)).tolist(), show_text),
                ("month", first.get("period", pd.Series(dtype=int)).tolist(), folder.label),
                ("racks", first.get("racks", pd.Series(dtype=float)).tolist(), show_racks),
            ),
        )
    )
    sections.append(
        section_html(
            "two-stage-scenarios",
            "Scenarios: objective and internal fill",
            note_html(
                "Each scenario under the two-stage plan (its own objective, at its own costs), "
                "solved alone (wait-and-see), and with the mean scenario's first stage fixed "
                "(the EEV; infeasible where that first stage does not fit it)."
            ),
            table_html("table-two-stage-scenarios", *_scenario_columns(folder, record)),
        )
    )
    return sections


def _figure_columns(folder: ResultFolder, record: dict[str, Any]) -> list[Column]:
    names, values, ranges = [], [], []
    for key, label, bounds in FIGURES:
        names.append(label)
        values.append(record.get(key))
        low, high = (record.get(bounds[0]), record.get(bounds[1])) if bounds else (None, None)
        shown = (
            ""
            if low is None or high is None
            else f"{show_money(folder, low)} .. {show_money(folder, high)}"
        )
        ranges.append(shown)
    return [
        ("figure", names, show_text),
        (f"value ({folder.currency})", values, show_full_money),
        ("range the MIP gaps leave", ranges, show_text),
    ]


def _scenario_columns(folder: ResultFolder, record: dict[str, Any]) -> list[Column]:
    results = folder.scenario_results if folder.scenario_results is not None else pd.DataFrame()
    scenarios = record.get("scenarios", [])
    columns: list[Column] = [
        ("scenario", [s["scenario"] for s in scenarios], show_text),
        ("probability", [s["probability"] for s in scenarios], lambda v: f"{float(v):.3g}"),
    ]
    for solve, label in SOLVES:
        rows = [_row(results, solve, s["scenario"]) for s in scenarios]
        columns.append(
            (
                f"objective ({folder.currency}), {label}",
                [_objective(row) for row in rows],
                _money_or_status(folder),
            )
        )
        columns.append(
            (f"internal fill, {label}", [row.get("internal_fill_rate") for row in rows], show_rate)
        )
    return columns


def _row(results: pd.DataFrame, solve: str, scenario: str) -> dict[str, Any]:
    if results.empty:
        return {}
    match = results[(results["solve"] == solve) & (results["scenario"].astype(str) == scenario)]
    return {str(key): value for key, value in match.iloc[0].items()} if len(match) else {}


def _objective(row: dict[str, Any]) -> Any:
    objective = row.get("objective")
    if objective is None or objective != objective:
        return row.get("status") or None
    return objective


def _money_or_status(folder: ResultFolder) -> Any:
    def show(value: Any) -> str:
        return str(value) if isinstance(value, str) else show_full_money(value)

    return show


def _first_stage_figure(folder: ResultFolder, first: pd.DataFrame) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure()
    months = [folder.label(t) for t in range(1, folder.periods + 1)]
    for product in dict.fromkeys(first.get("product", pd.Series(dtype=str))):
        rows = first[first["product"] == product].set_index("period")["racks"]
        figure.add_trace(
            go.Bar(
                x=months,
                y=[float(rows.get(t, 0.0)) for t in range(1, folder.periods + 1)],
                name=str(product),
                hovertemplate="%{x}: %{y:,.0f} racks<extra>" + str(product) + "</extra>",
            )
        )
    figure.update_layout(barmode="stack", yaxis_title="surplus racks", xaxis_title="month")
    return figure
