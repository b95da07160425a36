"""Terminal output: the summary table after a solve and tables of rows, drawn with rich.

Used by the command line for a solve's summary and the run store's lists and diffs.
Never imports Pyomo.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from allocator.outputs.result_files import fill_summary
from allocator.plan.tables import customer_table

if TYPE_CHECKING:  # the pipeline imports Pyomo; this module only reads its results
    from allocator.solver.pipeline import SolveResult


def print_summary(result: SolveResult, out_dir: Path | None = None, top: int = 5) -> None:
    """A short terminal summary: status, objective, gap, fill by segment, longest waits."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    currency = result.instance.settings.currency
    gap = "-" if result.mip_gap is None else f"{result.mip_gap:.4%}"
    objective = "-" if result.objective is None else f"{result.objective:,.0f} {currency}"
    head = Table(title=f"allocator: {result.instance.name}", show_header=False)
    head.add_row("status", str(result.status))
    head.add_row("objective", objective)
    head.add_row("gap", gap)
    head.add_row("solve seconds", f"{result.solve_seconds:.2f}")
    if result.plan is not None:
        customers = customer_table(result.instance, result.plan)
        for segment, fill in fill_summary(customers).items():
            if isinstance(fill, dict) and fill["fill_rate"] is not None:
                head.add_row(
                    f"fill {segment}",
                    f"{fill['fill_rate']:.1%} ({fill['allocated_racks']:,.0f} of "
                    f"{fill['requested_racks']:,.0f} racks)",
                )
    if result.priority_cost is not None:
        head.add_row("priority cost", f"{result.priority_cost:,.0f} {currency}")
    if out_dir is not None:
        head.add_row("written to", str(out_dir))
    console.print(head)
    if result.priority_stages:
        console.print(_stage_table(result))
    if result.plan is None:
        return
    waiting = customers.sort_values(["waiting_list_racks", "customer"], ascending=[False, True])
    waiting = waiting[waiting["waiting_list_racks"] > 0].head(top)
    if len(waiting):
        table = Table(title="longest waiting lists")
        for column in ("customer", "segment", "requested", "allocated", "waiting list", "fill"):
            table.add_column(column)
        for row in waiting.itertuples():
            table.add_row(
                str(row.customer),
                str(row.segment),
                f"{row.requested:,.0f}",
                f"{row.allocated:,.0f}",
                f"{row.waiting_list_racks:,.0f}",
                f"{row.fill_rate:.1%}",
            )
        console.print(table)


def _stage_table(result: SolveResult) -> Any:
    """The lexicographic rule's stages: what each reached, its bound and status."""
    from rich.table import Table

    table = Table(title="priority stages (each held by the next)")
    for column in ("stage", "value", "bound", "status", "seconds"):
        table.add_column(column, justify="left" if column in ("stage", "status") else "right")
    for report in result.priority_stages:
        criterion = report.stage.criterion
        shown = "{:.2%}" if criterion == "min_fill" else "{:,.0f}"
        table.add_row(
            report.stage.label,
            "-" if report.value is None else shown.format(report.value),
            "-" if report.bound is None else shown.format(report.bound),
            str(report.termination),
            f"{report.seconds:.2f}",
        )
    return table


Formatter = Callable[[Any], str]


def cell_text(value: Any, formatter: Formatter | None = None) -> str:
    """A table cell: ``-`` for a missing value, a formatter's text, thousands-separated
    whole numbers for floats, the value's text otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if formatter is not None:
        return formatter(value)
    if isinstance(value, float):
        return f"{value:,.0f}"
    return str(value)


def print_frame(
    frame: pd.DataFrame,
    title: str,
    *,
    formats: Mapping[str, Formatter] | None = None,
    right_aligned: tuple[str, ...] = (),
    width: int = 200,
) -> None:
    """``frame`` as a rich table; ``formats`` per column, default `cell_text`."""
    from rich.console import Console
    from rich.table import Table

    formats = formats or {}
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), justify="right" if column in right_aligned else "left")
    for row in frame.itertuples(index=False):
        table.add_row(
            *(
                cell_text(value, formats.get(str(column)))
                for column, value in zip(frame.columns, row, strict=True)
            )
        )
    Console(width=width).print(table)
