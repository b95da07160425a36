"""``report.html``: one self-contained page a planner opens offline. Never imports Pyomo.

Charts are Plotly figures; plotly.js is inlined once in the page's head and every
figure's data is inline, so the page makes no network request. Tables sort on a click
of their header and filter as you type (a few lines of inline JavaScript). Money is
shown in the instance's currency, racks as whole numbers, periods as month labels.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from allocator.formats import format_money, format_racks
from allocator.outputs.folder import (
    ResultFolder,
    fairness_table,
    lowest_internal_fill,
    sweep_lines,
)

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
SEGMENT_COLORS = {"internal": "#1f77b4", "third_party": "#ff7f0e"}
MAX_TABLE_ROWS = 5000
"""Longer tables show their first rows; the CSVs and plan.xlsx have every row."""

Formatter = Callable[[Any], str]


def render_report(folder: ResultFolder) -> str:
    """The whole page as one HTML string."""
    import plotly.offline

    sections: list[str] = []
    if folder.has_plan:
        sections += _plan_sections(folder)
    if folder.sweep is not None:
        sections += _sweep_sections(folder)
    kind = "plan" if folder.has_plan else "what-if"
    title = f"allocator {kind}: {folder.name}"
    return _PAGE.format(
        title=html.escape(title),
        style=_STYLE,
        plotly_js=plotly.offline.get_plotlyjs().replace("</script", "<\\/script"),
        header=_header(folder, title),
        nav=_nav(sections),
        body="\n".join(sections),
        script=_TABLE_SCRIPT,
    )


# --- page parts ----------------------------------------------------------------------


def _header(folder: ResultFolder, title: str) -> str:
    summary = folder.summary
    facts: list[tuple[str, str]] = []
    if summary:
        instance = summary.get("instance") or {}
        gap = summary.get("mip_gap")
        facts += [
            ("status", str(summary.get("status"))),
            ("objective", _money(folder, summary.get("objective"))),
            ("best bound", _money(folder, summary.get("best_bound"))),
            ("MIP gap", "-" if gap is None else f"{float(gap):.4%}"),
            ("solve time", f"{float(summary.get('solve_seconds') or 0):,.2f} s"),
            ("months", _months(folder)),
            ("instance", str(instance.get("source", ""))),
            ("written", str(summary.get("written_at", ""))),
        ]
    cards = "".join(
        f'<div class="fact"><span>{html.escape(k)}</span><b>{html.escape(v)}</b></div>'
        for k, v in facts
    )
    return f"<h1>{html.escape(title)}</h1><div class='facts'>{cards}</div>"


def _months(folder: ResultFolder) -> str:
    labels = folder.period_labels
    if not labels:
        return "-"
    return f"{labels[min(labels)]} .. {labels[max(labels)]} ({len(labels)})"


def _nav(sections: Sequence[str]) -> str:
    links = []
    for section in sections:
        start = section.find('id="') + 4
        anchor = section[start : section.find('"', start)]
        heading = section[section.find("<h2>") + 4 : section.find("</h2>")]
        links.append(f'<a href="#{anchor}">{heading}</a>')
    return " · ".join(links)


def _section(anchor: str, heading: str, *parts: str) -> str:
    return f'<section id="{anchor}"><h2>{html.escape(heading)}</h2>{"".join(parts)}</section>'


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _plan_sections(folder: ResultFolder) -> list[str]:
    assert folder.customers is not None
    customers = folder.customers
    sections = [
        _section(
            "waterfall",
            "Revenue waterfall",
            _note(
                "Rack revenue by segment, the margin of each attached service, then every "
                "cost and penalty, down to the objective (summary.json objective_terms)."
            ),
            _figure(_waterfall_figure(folder), "chart-waterfall", 460),
        ),
        _section(
            "fairness",
            "Fill rate and fairness",
            _fairness_summary(folder),
            _table("table-fairness", *_fairness_columns(folder, fairness_table(customers))),
        ),
        _section(
            "why-short",
            "Waiting list and why each buyer is short",
            _note(_why_note(folder)),
            _figure(*_waiting_figure(folder)),
            _table("table-customers", *_customer_columns(folder)),
        ),
        _section(
            "heatmap",
            "Allocation: racks shipped per customer and month",
            _figure(*_heatmap_figure(folder)),
        ),
        _section(
            "supply",
            "Supply against shipments and stock",
            _note(
                "Per product and month: base racks and surplus racks made (bars), racks "
                "shipped and end-of-month stock (lines)."
            ),
            _figure(*_supply_figure(folder)),
            _table("table-stock", *_stock_columns(folder)),
        ),
    ]
    if folder.marginal_values is not None:
        sections.append(
            _section(
                "marginal-values",
                "Marginal value of a surplus wafer",
                _note(_marginal_note(folder)),
                _figure(_wafer_figure(folder), "chart-wafer", 380),
                _table("table-marginal", *_marginal_columns(folder)),
            )
        )
    assert folder.allocation is not None
    sections.append(
        _section(
            "allocation",
            "Allocation rows",
            _table("table-allocation", *_allocation_columns(folder)),
        )
    )
    return sections


def _why_note(folder: ResultFolder) -> str:
    source = folder.summary.get("marginal_values_source")
    duals = {
        "lp": "the LP's duals",
        "lp_relaxation": "the duals of the LP relaxation (the plan itself is the MIP's)",
    }.get(str(source), "no marginal values")
    return (
        "Each reason is checked against the plan and the model's data and carries its "
        f"number; marginal values are {duals}. Customers with no waiting list have none."
    )


def _marginal_note(folder: ResultFolder) -> str:
    source = folder.summary.get("marginal_values_source")
    which = "the LP" if source == "lp" else "the LP relaxation of the MIP"
    return (
        f"What one more surplus wafer offered in a month adds to the objective "
        f"({folder.currency} per wafer, dual of the foundry surplus row of {which})."
    )


def _fairness_summary(folder: ResultFolder) -> str:
    assert folder.customers is not None
    lowest = lowest_internal_fill(folder.customers)
    fill = folder.summary.get("fill") or {}
    parts = []
    for segment in ("internal", "third_party"):
        figures = fill.get(segment) or {}
        if figures.get("fill_rate") is not None:
            parts.append(
                f"{segment}: {figures['fill_rate']:.1%} "
                f"({format_racks(figures['allocated_racks'])} of "
                f"{format_racks(figures['requested_racks'])} racks)"
            )
    if lowest is not None:
        parts.append(f"lowest internal fill rate: {lowest[1]:.1%} ({lowest[0]})")
    return _note("; ".join(parts)) if parts else ""


# --- charts --------------------------------------------------------------------------


def _figure(figure: Any, anchor: str, height: int) -> str:
    import plotly.io

    figure.update_layout(template="plotly_white", height=height, margin={"t": 40, "b": 40})
    return (
        '<div class="chart">'
        + plotly.io.to_html(
            figure,
            full_html=False,
            include_plotlyjs=False,
            div_id=anchor,
            default_height=f"{height}px",
            default_width="100%",
            config=PLOTLY_CONFIG,
        )
        + "</div>"
    )


def _money_scale(values: Sequence[float]) -> tuple[float, str]:
    largest = max((abs(value) for value in values), default=0.0)
    for scale, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if largest >= scale:
            return scale, suffix
    return 1.0, ""


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


def _waterfall_figure(folder: ResultFolder) -> Any:
    import plotly.graph_objects as go

    terms = _waterfall_terms(folder.summary.get("objective_terms") or {})
    objective = float(folder.summary.get("objective") or sum(v for _, v in terms))
    scale, suffix = _money_scale([objective, *(v for _, v in terms)])
    values = [float(v) for _, v in terms]
    figure = go.Figure(
        go.Waterfall(
            x=[_term_label(k) for k, _ in terms] + ["objective"],
            y=[v / scale for v in values] + [objective / scale],
            measure=["relative"] * len(terms) + ["total"],
            text=[_money(folder, v) for v in [*values, objective]],
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


def _heatmap_figure(folder: ResultFolder) -> tuple[Any, str, int]:
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


def _supply_figure(folder: ResultFolder) -> tuple[Any, str, int]:
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


def _waiting_figure(folder: ResultFolder) -> tuple[Any, str, int]:
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


def _wafer_figure(folder: ResultFolder) -> Any:
    import plotly.graph_objects as go

    assert folder.marginal_values is not None
    values = folder.marginal_values
    wafers = values[values["resource"] == "surplus_wafers"].sort_values("period")
    figure = go.Figure(
        go.Bar(
            x=[folder.label(t) for t in wafers["period"]],
            y=wafers["value"],
            marker_color="#6a51a3",
            text=[_money(folder, v) for v in wafers["value"]],
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


def _sweep_sections(folder: ResultFolder) -> list[str]:
    assert folder.sweep is not None
    sections = []
    series, points = sweep_lines(folder.sweep)
    if points["surplus_scale"].nunique() >= 2:
        sections.append(
            _section(
                "sweep-chart",
                "What-if: objective and internal waiting list against surplus scale",
                _note(
                    "Each point is a full solve with the foundry's surplus wafers scaled in "
                    "every month; triangles mark breakpoints, where the value of one more "
                    "surplus wafer (the slope) drops."
                ),
                _figure(_sweep_figure(folder, series, points), "chart-sweep", 620),
            )
        )
    if folder.policy_cost is not None and folder.policy_cost["cost"].notna().any():
        sections.append(
            _section(
                "policy-cost",
                "What each policy costs",
                _figure(_policy_cost_figure(folder), "chart-policy-cost", 320),
            )
        )
    sections.append(
        _section("sweep", "What-if scenarios", _table("table-sweep", *_sweep_columns(folder)))
    )
    return sections


def _sweep_figure(folder: ResultFolder, series: list[str], points: pd.DataFrame) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from allocator.outputs.charts import sweep_line_frames

    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=["objective", "internal waiting list"],
    )
    objective_values = pd.to_numeric(points["objective"], errors="coerce").tolist()
    scale, suffix = _money_scale(objective_values)
    for number, (name, line) in enumerate(sweep_line_frames(points, series, "sweep")):
        color = _palette(number)
        x = line["surplus_scale"].astype(float)
        objective = _numbers(line, "objective")
        per_wafer = _numbers(line, "marginal_value_per_wafer")
        text = [
            f"{_money(folder, o)}; {_money(folder, w)} per wafer"
            for o, w in zip(objective, per_wafer, strict=True)
        ]
        figure.add_trace(
            go.Scatter(
                x=x,
                y=objective / scale,
                name=name,
                mode="lines+markers",
                line={"color": color},
                text=text,
                hovertemplate="scale %{x}: %{text}<extra></extra>",
                legendgroup=name,
            ),
            row=1,
            col=1,
        )
        figure.add_trace(
            go.Scatter(
                x=x,
                y=_numbers(line, "internal_waiting_list_racks"),
                name=name,
                mode="lines+markers",
                line={"color": color},
                showlegend=False,
                legendgroup=name,
                hovertemplate="scale %{x}: %{y:,.0f} racks<extra></extra>",
            ),
            row=2,
            col=1,
        )
        _mark_breakpoints(figure, x, objective / scale, per_wafer, color, first=number == 0)
    figure.update_yaxes(
        title_text=f"{folder.currency} {suffix}".strip(), tickformat=",.2f", row=1, col=1
    )
    figure.update_yaxes(title_text="racks", tickformat=",", row=2, col=1)
    figure.update_xaxes(title_text="surplus scale (x the foundry's surplus wafers)", row=2, col=1)
    figure.update_layout(legend={"orientation": "h", "y": -0.12})
    return figure


def _numbers(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def _mark_breakpoints(
    figure: Any, x: pd.Series, y: pd.Series, per_wafer: pd.Series, color: str, first: bool
) -> None:
    """Triangles and dotted lines where the value of one more surplus wafer drops."""
    import plotly.graph_objects as go

    from allocator.outputs.charts import find_breakpoints

    breaks = find_breakpoints(per_wafer.tolist())
    if not breaks:
        return
    figure.add_trace(
        go.Scatter(
            x=x.iloc[breaks],
            y=y.iloc[breaks],
            mode="markers",
            marker={"symbol": "triangle-down", "size": 14, "color": "crimson"},
            name="breakpoint: value per wafer drops",
            legendgroup="breakpoints",
            showlegend=first,
            hovertemplate="breakpoint at scale %{x}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    for index in breaks:
        figure.add_vline(x=float(x.iloc[index]), line_dash="dot", line_color=color)


def _palette(number: int) -> str:
    colors = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")
    return colors[number % len(colors)]


def _policy_cost_figure(folder: ResultFolder) -> Any:
    import plotly.graph_objects as go

    assert folder.policy_cost is not None
    rows = folder.policy_cost[folder.policy_cost["cost"].notna()]
    cost = rows["cost"].astype(float)
    low = rows.get("cost_low", cost).astype(float)
    high = rows.get("cost_high", cost).astype(float)
    scale, suffix = _money_scale(cost.tolist())
    figure = go.Figure(
        go.Bar(
            x=cost / scale,
            y=rows["policy"].astype(str),
            orientation="h",
            marker_color="#ff7f0e",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (high - cost).clip(lower=0) / scale,
                "arrayminus": (cost - low).clip(lower=0) / scale,
            },
            text=[_money(folder, v) for v in cost],
            hovertemplate="%{y}: %{text}<extra></extra>",
        )
    )
    figure.update_xaxes(
        title=f"objective given up ({folder.currency} {suffix})".replace(" )", ")"),
        tickformat=",.2f",
    )
    return figure


# --- tables --------------------------------------------------------------------------

Column = tuple[str, Sequence[Any], Formatter]
"""A table column: header, values, how to show a value (sorting uses the raw value)."""


def _table(anchor: str, *columns: Column) -> str:
    if not columns:
        return ""
    rows = len(columns[0][1])
    shown = min(rows, MAX_TABLE_ROWS)
    head = "".join(f"<th>{html.escape(header)}</th>" for header, _, _ in columns)
    body = []
    for index in range(shown):
        cells = []
        for _, values, show in columns:
            value = values[index]
            sort = "" if _missing(value) else html.escape(str(value), quote=True)
            text = "" if _missing(value) else html.escape(show(value))
            cells.append(f'<td data-sort="{sort}">{text}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    more = (
        _note(f"First {shown:,} of {rows:,} rows; the CSV and plan.xlsx have them all.")
        if shown < rows
        else ""
    )
    return (
        f'<div class="table-tools"><input type="search" placeholder="filter rows" '
        f'data-table="{anchor}" aria-label="filter rows"> <span class="count" '
        f'id="{anchor}-count">{shown:,} rows</span></div>'
        f'<div class="table-wrap"><table class="grid" id="{anchor}"><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table></div>{more}"
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(value: Any) -> str:
    return str(value)


def _racks(value: Any) -> str:
    return format_racks(float(value))


def _rate(value: Any) -> str:
    return f"{float(value):.1%}"


def _money(folder: ResultFolder, value: Any) -> str:
    if _missing(value):
        return "-"
    return format_money(float(value), folder.currency)


def _full_money(value: Any) -> str:
    number = float(value)
    return f"{number:,.0f}" if abs(number) >= 100 or number == 0 else f"{number:,.2f}"


def _month(folder: ResultFolder) -> Formatter:
    return lambda value: folder.label(value)


def _values(frame: pd.DataFrame, column: str) -> list[Any]:
    if column not in frame.columns:
        return [None] * len(frame)
    return [None if _missing(v) else (v.item() if hasattr(v, "item") else v) for v in frame[column]]


def _customer_columns(folder: ResultFolder) -> list[Column]:
    assert folder.customers is not None
    frame = folder.customers.sort_values(
        ["waiting_list_racks", "customer"], ascending=[False, True]
    )
    deal = [
        None if v is None else ("accepted" if v >= 0.5 else "rejected")
        for v in _values(frame, "deal_accepted")
    ]
    return [
        ("customer", _values(frame, "customer"), _text),
        ("segment", _values(frame, "segment"), _text),
        ("region", _values(frame, "region"), _text),
        ("requested", _values(frame, "requested"), _racks),
        ("allocated", _values(frame, "allocated"), _racks),
        ("fill rate", _values(frame, "fill_rate"), _rate),
        ("waiting list", _values(frame, "waiting_list_racks"), _racks),
        ("min fill", _values(frame, "min_fill"), _rate),
        ("shortfall", _values(frame, "shortfall_racks"), _racks),
        ("deal", deal, _text),
        ("why short", _values(frame, "why_short"), _text),
    ]


def _fairness_columns(folder: ResultFolder, fairness: pd.DataFrame) -> list[Column]:
    return [
        ("by", _values(fairness, "group"), _text),
        ("segment or region", _values(fairness, "name"), _text),
        ("customers", _values(fairness, "customers"), _racks),
        ("requested", _values(fairness, "requested"), _racks),
        ("allocated", _values(fairness, "allocated"), _racks),
        ("fill rate", _values(fairness, "fill_rate"), _rate),
        ("waiting list", _values(fairness, "waiting_list_racks"), _racks),
    ]


def _stock_columns(folder: ResultFolder) -> list[Column]:
    frame = folder.stock if folder.stock is not None else pd.DataFrame()
    return [
        ("product", _values(frame, "product"), _text),
        ("month", _values(frame, "period"), _month(folder)),
        ("base", _values(frame, "base"), _racks),
        ("surplus", _values(frame, "surplus"), _racks),
        ("shipped", _values(frame, "shipped"), _racks),
        ("stock", _values(frame, "stock"), _racks),
    ]


def _marginal_columns(folder: ResultFolder) -> list[Column]:
    assert folder.marginal_values is not None
    frame = folder.marginal_values
    unit = {"surplus_wafers": "per wafer", "base_racks": "per rack", "region_power": "per kW"}
    return [
        ("resource", _values(frame, "resource"), _text),
        ("item", _values(frame, "item"), _text),
        ("month", _values(frame, "period"), _month(folder)),
        (f"value ({folder.currency})", _values(frame, "value"), _full_money),
        ("unit", [unit.get(str(r), "") for r in frame["resource"]], _text),
    ]


def _allocation_columns(folder: ResultFolder) -> list[Column]:
    assert folder.allocation is not None
    frame = folder.allocation
    return [
        ("order", _values(frame, "order"), _text),
        ("customer", _values(frame, "customer"), _text),
        ("segment", _values(frame, "segment"), _text),
        ("product", _values(frame, "product"), _text),
        ("requested month", _values(frame, "period"), _month(folder)),
        ("ship month", _values(frame, "ship_period"), _month(folder)),
        ("racks", _values(frame, "racks"), _racks),
    ]


def _sweep_columns(folder: ResultFolder) -> list[Column]:
    assert folder.sweep is not None
    frame = folder.sweep
    shown: list[Column] = []
    for column in frame.columns:
        if column in ("hash", "message", "seconds"):
            continue
        shown.append(
            (column.replace("_", " "), _values(frame, column), _sweep_formatter(folder, column))
        )
    return shown


SWEEP_MONEY_WORDS = ("objective", "bound", "revenue", "margin", "cost", "penalty", "per_wafer")


def _sweep_formatter(folder: ResultFolder, column: str) -> Formatter:
    if column in ("mip_gap", "internal_fill_rate"):
        return _rate
    if column.endswith("_racks") or column == "deals_accepted":
        return _racks
    money = (
        "objective",
        "best_bound",
        "rack_revenue",
        "service_margin",
        "cost",
        "penalty",
        "per_wafer",
    )
    if any(word in column for word in money):
        return lambda value: _full_money(value) if isinstance(value, int | float) else str(value)
    return lambda value: f"{value:,.6g}" if isinstance(value, float) else str(value)


# --- page template -------------------------------------------------------------------

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
<script>{plotly_js}</script>
</head>
<body>
<header>{header}<nav>{nav}</nav></header>
<main>
{body}
</main>
<script>{script}</script>
</body>
</html>
"""

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  margin: 0; color: #222; background: #fafafa; }
header { background: #fff; border-bottom: 1px solid #ddd; padding: 12px 24px; }
h1 { font-size: 22px; margin: 4px 0 10px; }
h2 { font-size: 18px; margin: 0 0 8px; }
nav { margin-top: 8px; font-size: 14px; }
nav a { color: #08519c; text-decoration: none; }
main { padding: 12px 24px; }
section { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px;
  padding: 14px 16px; margin: 0 0 16px; }
.facts { display: flex; flex-wrap: wrap; gap: 8px; }
.fact { border: 1px solid #e3e3e3; border-radius: 6px; padding: 6px 10px; background: #f6f8fa; }
.fact span { display: block; font-size: 11px; color: #666; text-transform: uppercase; }
.fact b { font-size: 15px; }
.note { color: #555; font-size: 13px; margin: 4px 0 8px; }
.chart { width: 100%; }
.table-tools { margin: 8px 0 4px; font-size: 13px; }
.table-tools input { padding: 4px 8px; width: 260px; }
.count { color: #666; margin-left: 8px; }
.table-wrap { max-height: 520px; overflow: auto; border: 1px solid #e3e3e3; }
table.grid { border-collapse: collapse; font-size: 13px; width: 100%; }
table.grid th { position: sticky; top: 0; background: #eef2f6; cursor: pointer;
  text-align: left; padding: 6px 8px; border-bottom: 1px solid #ccc; white-space: nowrap; }
table.grid th.asc::after { content: " \\25B2"; }
table.grid th.desc::after { content: " \\25BC"; }
table.grid td { padding: 4px 8px; border-bottom: 1px solid #f0f0f0; vertical-align: top; }
table.grid tr:nth-child(even) td { background: #fbfbfb; }
"""

_TABLE_SCRIPT = """
(function () {
  function key(cell) {
    var raw = cell.getAttribute('data-sort');
    var number = parseFloat(raw);
    return (raw !== '' && isFinite(raw)) ? number : raw.toLowerCase();
  }
  document.querySelectorAll('table.grid').forEach(function (table) {
    table.querySelectorAll('th').forEach(function (th, column) {
      th.addEventListener('click', function () {
        var ascending = !th.classList.contains('asc');
        table.querySelectorAll('th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
        th.classList.add(ascending ? 'asc' : 'desc');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[column]), y = key(b.cells[column]);
          if (typeof x !== typeof y) { x = String(x); y = String(y); }
          return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  document.querySelectorAll('input[data-table]').forEach(function (input) {
    input.addEventListener('input', function () {
      var table = document.getElementById(input.getAttribute('data-table'));
      var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
      var shown = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var text = row.textContent.toLowerCase();
        var match = words.every(function (word) { return text.indexOf(word) >= 0; });
        row.style.display = match ? '' : 'none';
        if (match) { shown += 1; }
      });
      document.getElementById(input.getAttribute('data-table') + '-count').textContent =
        shown.toLocaleString() + ' rows';
    });
  });
})();
"""
