"""report.html's tier section: fill by tier, the stages and what each hold costs.

Shown for a plan under ``policy.priority_rule = "lexicographic"`` (`allocator.outputs.tiers`
reads it from summary.json). Never imports Pyomo.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from allocator.outputs.folder import ResultFolder
from allocator.outputs.page_blocks import figure_html, note_html, section_html
from allocator.outputs.page_formats import is_missing, show_money, show_racks, show_rate, show_text
from allocator.outputs.page_tables import Column, table_html
from allocator.outputs.tiers import stage_table, tier_table


def tier_section(folder: ResultFolder) -> str:
    """The section: a note in words, the fill-rate chart, the stage and tier tables."""
    return section_html(
        "tiers",
        "Priority tiers: who is served first and what it costs",
        note_html(_note(folder)),
        figure_html(*_fill_figure(folder)),
        table_html("table-stages", *_stage_columns(folder)),
        table_html("table-tiers", *_tier_columns(tier_table(folder.summary))),
    )


def _note(folder: ResultFolder) -> str:
    summary = folder.summary
    fair = (
        " with fair share (each tier's lowest fill rate first)" if summary.get("fair_share") else ""
    )
    text = (
        f"The plan serves the tiers of customers.csv priority in order{fair}, each stage "
        "holding what the earlier ones reached, then maximizes profit."
    )
    cost = summary.get("priority_cost")
    if cost is not None:
        text += (
            f" Serving the tiers first costs {show_money(folder, cost)} against the "
            "profit rule (the objective without tiers minus this plan's)."
        )
    return text + (
        " A stage's marginal cost is what holding one more rack (or one more point of "
        "fill rate) of it costs the profit stage at the margin (LP relaxation)."
    )


def _fill_figure(folder: ResultFolder) -> tuple[Any, str, int]:
    import plotly.graph_objects as go

    tiers = tier_table(folder.summary)
    labels = [f"tier {tier}" for tier in tiers["tier"]]
    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            x=labels,
            y=tiers["fill_rate"],
            name="fill rate",
            marker_color="#1f77b4",
            hovertemplate="%{x}: fill %{y:.1%}<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=labels,
            y=tiers["lowest_fill_rate"],
            name="lowest customer fill rate",
            mode="markers",
            marker={"symbol": "line-ew-open", "size": 28, "color": "#d62728", "line": {"width": 3}},
            hovertemplate="%{x}: lowest %{y:.1%}<extra></extra>",
        )
    )
    figure.update_yaxes(title="fill rate", tickformat=".0%", range=[0, 1.05])
    figure.update_xaxes(type="category")
    figure.update_layout(legend={"orientation": "h", "y": 1.1})
    return figure, "chart-tiers", 360


def _stage_columns(folder: ResultFolder) -> list[Column]:
    stages = stage_table(folder.summary)
    criteria = stages["criterion"].tolist()

    def amount(value: Any, criterion: str) -> str | None:
        if is_missing(value):
            return None
        if criterion == "min_fill":
            return show_rate(value)
        if criterion == "profit":
            return show_money(folder, value)
        return f"{show_racks(value)} racks"

    def hold_cost(cost: Any, criterion: str) -> str | None:
        if is_missing(cost):
            return None
        if criterion == "min_fill":  # per point of fill rate: a hundredth of 1.0
            return f"{show_money(folder, float(cost) / 100)} per point"
        return f"{show_money(folder, cost)} per rack"

    def column(name: str, show: Any) -> list[Any]:
        return [show(value, c) for value, c in zip(stages[name], criteria, strict=True)]

    return [
        ("stage", stages["stage"].tolist(), show_text),
        ("value reached", column("value", amount), show_text),
        ("bound", column("bound", amount), show_text),
        ("status", stages["status"].tolist(), show_text),
        ("marginal cost of its hold", column("marginal_cost", hold_cost), show_text),
        ("seconds", [f"{float(v):.2f}" for v in stages["seconds"]], show_text),
    ]


def _tier_columns(tiers: pd.DataFrame) -> list[Column]:
    def values(column: str) -> list[Any]:
        return [None if is_missing(value) else value for value in tiers[column].tolist()]

    return [
        ("tier", values("tier"), show_text),
        ("customers", values("customers"), show_racks),
        ("requested", values("requested_racks"), show_racks),
        ("allocated", values("allocated_racks"), show_racks),
        ("fill rate", values("fill_rate"), show_rate),
        ("lowest customer fill rate", values("lowest_fill_rate"), show_rate),
    ]
