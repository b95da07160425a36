"""report.html's Plotly figures of a what-if sweep: objective and waiting list, policy costs.

The lines and their breakpoints come from `allocator.outputs.sweep`, as for the PNG
charts of `allocator.outputs.charts`. Never imports Pyomo.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from allocator.outputs.folder import ResultFolder
from allocator.outputs.page_formats import money_scale, show_money
from allocator.outputs.sweep import find_breakpoints, sweep_line_frames


def sweep_figure(folder: ResultFolder, series: list[str], points: pd.DataFrame) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=["objective", "internal waiting list"],
    )
    objective_values = pd.to_numeric(points["objective"], errors="coerce").tolist()
    scale, suffix = money_scale(objective_values)
    for number, (name, line) in enumerate(sweep_line_frames(points, series, "sweep")):
        color = _palette(number)
        x = line["surplus_scale"].astype(float)
        objective = _numbers(line, "objective")
        per_wafer = _numbers(line, "marginal_value_per_wafer")
        text = [
            f"{show_money(folder, o)}; {show_money(folder, w)} per wafer"
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


def policy_cost_figure(folder: ResultFolder) -> Any:
    import plotly.graph_objects as go

    assert folder.policy_cost is not None
    rows = folder.policy_cost[folder.policy_cost["cost"].notna()]
    cost = rows["cost"].astype(float)
    low = rows.get("cost_low", cost).astype(float)
    high = rows.get("cost_high", cost).astype(float)
    scale, suffix = money_scale(cost.tolist())
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
            text=[show_money(folder, v) for v in cost],
            hovertemplate="%{y}: %{text}<extra></extra>",
        )
    )
    figure.update_xaxes(
        title=f"objective given up ({folder.currency} {suffix})".replace(" )", ")"),
        tickformat=",.2f",
    )
    return figure
