"""Charts of a what-if sweep (PNG, matplotlib's Agg canvas). Never imports Pyomo.

``charts/surplus.png``: objective and internal waiting list against the surplus scale,
one line per combination of the other ``--vary`` values, with the breakpoints marked
where the value of an extra surplus wafer drops (lines and breakpoints from
`allocator.outputs.sweep`, shared with report.html).
``charts/policy_cost.png``: what each policy costs, with the bracket a MIP gap leaves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from allocator.atomic import write_file
from allocator.outputs.sweep import find_breakpoints, sweep_line_frames

CHARTS_FOLDER = "charts"
CHART_FILES = ("surplus.png", "policy_cost.png")
MAX_LABELLED_LINES = 3
"""Segments are labelled with their value per wafer only when this few lines are drawn."""


def human(value: float, digits: int = 3) -> str:
    """1.42e11 -> ``142B``, 3.5e6 -> ``3.5M`` (``digits`` significant digits)."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


def _tick_text(value: float, _position: object) -> str:
    return human(value, digits=5)


def write_charts(
    table: pd.DataFrame,
    series_columns: Sequence[str],
    policy_costs: pd.DataFrame | None,
    out_dir: Path,
    title: str,
    currency: str,
) -> list[Path]:
    """Every chart the sweep has data for, into ``out_dir/charts``; the files written."""
    folder = out_dir / CHARTS_FOLDER
    figures: dict[str, Any] = {}
    sweep = table[(table["kind"] == "sweep") & table["objective"].notna()]
    if sweep["surplus_scale"].nunique() >= 2:
        figures["surplus.png"] = _surplus_figure(sweep, list(series_columns), title, currency)
    if policy_costs is not None and policy_costs["cost"].notna().any():
        figures["policy_cost.png"] = _policy_cost_figure(policy_costs, title, currency)
    for name in CHART_FILES:
        if name not in figures:
            (folder / name).unlink(missing_ok=True)  # a chart of an earlier sweep here
    if figures:
        folder.mkdir(parents=True, exist_ok=True)
    for name, figure in figures.items():
        _save(figure, folder / name)
    return [folder / name for name in figures]


def _surplus_figure(
    sweep: pd.DataFrame, series_columns: list[str], title: str, currency: str
) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(9, 7.5), layout="constrained")
    objective_axes, waiting_axes = figure.subplots(2, 1, sharex=True)
    lines = sweep_line_frames(sweep, series_columns)
    marked = False
    for number, (label, line) in enumerate(lines):
        color = f"C{number % 10}"
        scales = line["surplus_scale"].to_numpy(dtype=float)
        objective = line["objective"].to_numpy(dtype=float)
        waiting = line["internal_waiting_list_racks"].to_numpy(dtype=float)
        per_wafer = line["marginal_value_per_wafer"].to_numpy(dtype=float)
        objective_axes.plot(scales, objective, "o-", color=color, label=label or None)
        waiting_axes.plot(scales, waiting, "o-", color=color, label=label or None)
        breaks = find_breakpoints(list(per_wafer))
        for index in breaks:
            objective_axes.plot(
                scales[index], objective[index], "v", color="crimson", markersize=11, zorder=5
            )
            for axes in (objective_axes, waiting_axes):
                axes.axvline(scales[index], color=color, linestyle=":", linewidth=1)
            marked = True
        if len(lines) <= MAX_LABELLED_LINES:
            _label_segments(objective_axes, scales, objective, per_wafer, color, currency)
    if marked:
        objective_axes.plot([], [], "v", color="crimson", label="value per wafer drops")
    objective_axes.set_title(f"{title}: what extra foundry surplus is worth")
    objective_axes.set_ylabel(f"objective ({currency})")
    objective_axes.yaxis.set_major_formatter(FuncFormatter(_tick_text))
    waiting_axes.set_ylabel("internal waiting list (racks)")
    waiting_axes.set_xlabel("surplus scale (x the foundry's surplus wafers in every period)")
    for axes in (objective_axes, waiting_axes):
        axes.grid(alpha=0.3)
    if marked or any(label for label, _ in lines):
        objective_axes.legend(fontsize="small", loc="best")
    return figure


def _label_segments(
    axes: Any,
    scales: np.ndarray,
    objective: np.ndarray,
    per_wafer: np.ndarray,
    color: str,
    currency: str,
) -> None:
    for index in range(1, len(scales)):
        if not math.isfinite(per_wafer[index]):
            continue
        axes.annotate(
            f"{human(per_wafer[index])}/wafer",
            (
                (scales[index - 1] + scales[index]) / 2,
                (objective[index - 1] + objective[index]) / 2,
            ),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
            fontsize="x-small",
            color=color,
        )


def _policy_cost_figure(policy_costs: pd.DataFrame, title: str, currency: str) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    rows = policy_costs[policy_costs["cost"].notna()]
    cost = rows["cost"].to_numpy(dtype=float)
    low = rows["cost_low"].to_numpy(dtype=float)
    high = rows["cost_high"].to_numpy(dtype=float)
    errors = np.vstack([np.clip(cost - low, 0, None), np.clip(high - cost, 0, None)])
    figure = Figure(figsize=(9, 1.2 + 0.8 * len(rows)), layout="constrained")
    axes = figure.subplots()
    positions = np.arange(len(rows))
    axes.barh(positions, cost, xerr=errors, color="C1", capsize=4)
    axes.set_yticks(positions, [str(text) for text in rows["policy"]])
    axes.invert_yaxis()
    for position, value in zip(positions, cost, strict=True):
        axes.annotate(f" {human(value)}", (value, position), va="center", fontsize="small")
    axes.xaxis.set_major_formatter(FuncFormatter(_tick_text))
    axes.set_xlabel(
        f"objective given up for the policy ({currency}; whisker: range the MIP gap allows)"
    )
    axes.set_title(f"{title}: what each policy costs")
    axes.grid(axis="x", alpha=0.3)
    return figure


def _save(figure: Any, path: Path) -> None:
    """PNG written atomically (`allocator.atomic.write_file`)."""
    write_file(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
