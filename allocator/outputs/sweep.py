"""A what-if sweep's lines and breakpoints, for its PNG charts and its report.html figures.

Which solved points of ``sweep.csv`` lie on the surplus axis, how they split into one
line per combination of the other ``--vary`` values, and the breakpoints along a line
where the value of an extra surplus wafer drops (the finite-difference slope falls).
Presentation-free: `allocator.outputs.charts` (matplotlib) and
`allocator.outputs.sweep_figures` (Plotly) both draw from it. Never imports Pyomo.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

BREAKPOINT_DROP = 0.25
"""A breakpoint is where the value per wafer falls by more than this share of its value
before: a real drop (back-end capacity full, a cheaper use of wafers next), not the
gradual decline of diminishing returns or a MIP's integrality wobble."""


def sweep_lines(sweep: pd.DataFrame) -> tuple[list[str], pd.DataFrame]:
    """The solved points of a surplus sweep and the columns that tell its lines apart
    (the ``--vary`` columns between ``surplus_scale`` and ``status`` in sweep.csv that
    take more than one value)."""
    columns = list(sweep.columns)
    if "surplus_scale" not in columns or "status" not in columns:
        return [], sweep.iloc[0:0]
    start, stop = columns.index("surplus_scale") + 1, columns.index("status")
    points = sweep[pd.to_numeric(sweep["objective"], errors="coerce").notna()]
    if "kind" in columns:
        points = points[points["kind"] == "sweep"]
    series = [column for column in columns[start:stop] if points[column].nunique() > 1]
    return series, points


def sweep_line_frames(
    sweep: pd.DataFrame, series_columns: list[str], single_label: str = ""
) -> list[tuple[str, pd.DataFrame]]:
    """One line along the surplus axis per combination of the other varied values,
    labelled by them (``single_label`` when nothing else varies)."""
    if not series_columns:
        return [(single_label, sweep.sort_values("surplus_scale"))]
    lines = []
    for values, line in sweep.groupby(series_columns, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        label = ", ".join(
            f"{column.split('.', 1)[-1]}={_short(value)}"
            for column, value in zip(series_columns, values, strict=True)
        )
        lines.append((label, line.sort_values("surplus_scale")))
    return lines


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float | int | np.floating) else str(value)


def find_breakpoints(values_per_wafer: Sequence[float]) -> list[int]:
    """Indices ``i`` of points where the slope after ``i`` is lower than before it.

    ``values_per_wafer[i]`` is the slope of the segment ending at point ``i`` (the first
    is NaN); a drop from segment ``i`` to segment ``i + 1`` marks point ``i``."""
    points: list[int] = []
    for index in range(1, len(values_per_wafer) - 1):
        before, after = values_per_wafer[index], values_per_wafer[index + 1]
        if not (math.isfinite(before) and math.isfinite(after)):
            continue
        if after < before - BREAKPOINT_DROP * abs(before) - 1e-9:
            points.append(index)
    return points
