"""report.html's Plotly figures of a plan: waterfall, waiting list, heatmap, supply, wafers.

Each takes the result folder and returns a Plotly figure (with its div id and height
where these depend on the data); `allocator.outputs.html` embeds them. Money is shown in
the instance's currency, months by their labels. Never imports Pyomo.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd

from allocator.outputs.folder import ResultFolder
from allocator.outputs.generations import flow_label, generation_flows
from allocator.outputs.page_formats import money_scale, show_money

SEGMENT_COLORS = {"internal": "#1f77b4", "third_party": "#ff7f0e"}


def _term_label(term: str) -> str:
    if term.startswith("service_margin_"):
        return f"{term.removeprefix('service_margin_')} margin"
    if term.startswith("rack_revenue_"):
        return f"racks {term.removeprefix('rack_revenue_').replace('_', ' ')}"
    return term.replace("_", " ")


COST_ORDER = (
    "surplus_cost",
    "holding_cost",
    "delay_cost",
    "onboarding_cost",
    "shortfall_penalty",
)


def _waterfall_terms(terms: dict[str, float]) -> list[tuple[str, float]]:
    """Rack revenue by segment, each service margin, then the costs in a fixed order."""
    revenue = [(k, v) for k, v in terms.items() if k.startswith("rack_revenue_")]
    margins = [(k, v) for k, v in terms.items() if k.startswith("service_margin_")]
    costs = [(k, terms[k]) for k in COST_ORDER if k in terms]
    known = {k for k, _ in revenue + margins + costs}
    other = [(k, v) for k, v in terms.items() if k not in known]
    return revenue + margins + other + costs


def waterfall_figure(folder: ResultFolder) -> Any:
    import plotly.graph_objects as go

    terms = _waterfall_terms(folder.summary.get("objective_terms") or {})
    objective = float(folder.summary.get("objective") or sum(v for _, v in terms))
    scale, suffix = money_scale([objective, *(v for _, v in terms)])
    values = [float(v) for _, v in terms]
    figure = go.Figure(
        go.Waterfall(
            x=[_term_label(k) for k, _ in terms] + ["objective"],
            y=[v / scale for v in values] + [objective / scale],
            measure=["relative"] * len(terms) + ["total"],
            text=[show_money(folder, v) for v in [*values, objective]],
            textposition="outside",
            hovertemplate="%{x}: %{text}<extra></extra>",
            connector={"line": {"color": "#999"}},
            increasing={"marker": {"color": "#2ca02c"}},
            decreasing={"marker": {"color": "#d62728"}},
            totals={"marker": {"color": "#1f77b4"}},
            cliponaxis=False,
        )
    )
    figure.update_yaxes(title=f"{folder.currency} {suffix}".strip(), tickformat=",.1f")
    return figure


def heatmap_figure(folder: ResultFolder) -> tuple[Any, str, int]:
    import plotly.graph_objects as go

    assert folder.allocation is not None and folder.customers is not None
    customers = list(folder.customers["customer"])
    periods = list(folder.period_labels)
    shipped = folder.allocation.pivot_table(
        index="customer", columns="ship_period", values="racks", aggfunc="sum"
    ).reindex(index=customers, columns=periods)
    z = shipped.to_numpy(dtype=float)
    figure = go.Figure(
        go.Heatmap(
            z=[[None if math.isnan(v) else v for v in row] for row in z.tolist()],
            x=[folder.label(t) for t in periods],
            y=customers,
            colorscale=[[0.0, "#c6dbef"], [0.5, "#4292c6"], [1.0, "#08306b"]],
            colorbar={"title": {"text": "racks"}},
            hovertemplate="%{y}<br>%{x}: %{z:,.0f} racks<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    figure.update_yaxes(autorange="reversed", type="category", dtick=1)
    figure.update_xaxes(type="category")
    return figure, "chart-heatmap", max(320, 18 * len(customers) + 120)


SUPPLY_BARS = (("base", "base racks", "#9ecae1"), ("surplus", "surplus racks", "#fd8d3c"))


SUPPLY_LINES = (
    ("shipped", "shipped", "#08519c", "solid"),
    ("stock", "stock (end of month)", "#31a354", "dot"),
)


def supply_figure(folder: ResultFolder) -> tuple[Any, str, int]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    stock = folder.stock if folder.stock is not None else pd.DataFrame()
    products = list(dict.fromkeys(stock.get("product", pd.Series(dtype=str))))
    figure = make_subplots(
        rows=max(1, len(products)),
        cols=1,
        shared_xaxes=True,
        subplot_titles=products or ["no products"],
        vertical_spacing=0.12,
    )
    for row, product in enumerate(products, start=1):
        rows = stock[stock["product"] == product].sort_values("period")
        months = [folder.label(t) for t in rows["period"]]
        for column, name, color in SUPPLY_BARS:
            figure.add_trace(
                go.Bar(
                    x=months,
                    y=rows[column],
                    name=name,
                    marker_color=color,
                    legendgroup=name,
                    showlegend=row == 1,
                    hovertemplate=f"{name} %{{x}}: %{{y:,.0f}}<extra>{product}</extra>",
                ),
                row=row,
                col=1,
            )
        for column, name, color, dash in SUPPLY_LINES:
            figure.add_trace(
                go.Scatter(
                    x=months,
                    y=rows[column],
                    name=name,
                    mode="lines+markers",
                    line={"color": color, "dash": dash},
                    legendgroup=name,
                    showlegend=row == 1,
                    hovertemplate=f"{name} %{{x}}: %{{y:,.0f}}<extra>{product}</extra>",
                ),
                row=row,
                col=1,
            )
        figure.update_yaxes(title_text="racks", tickformat=",", row=row, col=1)
    figure.update_layout(barmode="stack", legend={"orientation": "h", "y": -0.08})
    figure.update_xaxes(type="category")
    return figure, "chart-supply", 300 * max(1, len(products)) + 80


def generation_figure(folder: ResultFolder) -> tuple[Any, str, int]:
    """Racks shipped per month, stacked by ordered product and, for substitutes, the
    product shipped instead (``trainium4 for a trainium order``: an order that waited)."""
    import plotly.graph_objects as go

    flows = generation_flows(folder.allocation)
    months = [folder.label(t) for t in folder.period_labels]
    figure = go.Figure()
    pairs = flows[["ordered_product", "product"]].drop_duplicates()
    for ordered, shipped in sorted(
        pairs.itertuples(index=False), key=lambda pair: (pair[0] != pair[1], pair)
    ):
        rows = flows[(flows["ordered_product"] == ordered) & (flows["product"] == shipped)]
        racks = dict(zip(rows["ship_period"], rows["racks"], strict=True))
        name = flow_label(str(ordered), str(shipped))
        figure.add_trace(
            go.Bar(
                x=months,
                y=[racks.get(t, 0) for t in folder.period_labels],
                name=name,
                marker_pattern_shape="" if ordered == shipped else "/",
                hovertemplate=f"{html.escape(name)} %{{x}}: %{{y:,.0f}} racks<extra></extra>",
            )
        )
    figure.update_layout(
        barmode="stack", legend={"orientation": "h", "y": 1.08, "traceorder": "normal"}
    )
    figure.update_xaxes(type="category")
    figure.update_yaxes(title="racks shipped", tickformat=",")
    return figure, "chart-generations", 380


def waiting_figure(folder: ResultFolder) -> tuple[Any, str, int]:
    import plotly.graph_objects as go

    assert folder.customers is not None
    customers = folder.customers
    waiting = customers[customers["waiting_list_racks"] > 1e-6].sort_values(
        ["waiting_list_racks", "customer"], ascending=[True, False]
    )
    figure = go.Figure()
    for segment, rows in waiting.groupby("segment", sort=True):
        why = rows["why_short"] if "why_short" in rows else pd.Series("", index=rows.index)
        figure.add_trace(
            go.Bar(
                x=rows["waiting_list_racks"],
                y=rows["customer"],
                orientation="h",
                name=str(segment),
                marker_color=SEGMENT_COLORS.get(str(segment), "#7f7f7f"),
                customdata=np.stack(
                    [rows["fill_rate"].to_numpy(), [_wrap(text) for text in why]], axis=-1
                ),
                hovertemplate=(
                    "%{y}: %{x:,.0f} racks waiting, fill %{customdata[0]:.1%}"
                    "<br>%{customdata[1]}<extra></extra>"
                ),
            )
        )
    order = list(waiting["customer"])
    figure.update_yaxes(type="category", categoryorder="array", categoryarray=order, dtick=1)
    figure.update_xaxes(title="racks on the waiting list", tickformat=",")
    figure.update_layout(barmode="stack", legend={"orientation": "h", "y": 1.05})
    if not order:
        figure.add_annotation(text="no customer is short", showarrow=False)
    return figure, "chart-waiting", max(300, 20 * len(order) + 120)


def _wrap(text: str, width: int = 90) -> str:
    lines, line = [], ""
    for word in html.escape(str(text)).split(" "):
        if line and len(line) + len(word) > width:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    lines.append(line)
    return "<br>".join(lines)


def wafer_figure(folder: ResultFolder) -> Any:
    import plotly.graph_objects as go

    assert folder.marginal_values is not None
    values = folder.marginal_values
    wafers = values[values["resource"] == "surplus_wafers"].sort_values("period")
    figure = go.Figure(
        go.Bar(
            x=[folder.label(t) for t in wafers["period"]],
            y=wafers["value"],
            marker_color="#6a51a3",
            text=[show_money(folder, v) for v in wafers["value"]],
            texttemplate="%{y:.3s}",
            textposition="outside",
            textangle=0,
            cliponaxis=False,
            hovertemplate="%{x}: %{text} per wafer<extra></extra>",
        )
    )
    figure.update_yaxes(title=f"{folder.currency} per wafer", tickformat=",.0f")
    figure.update_xaxes(type="category")
    return figure
