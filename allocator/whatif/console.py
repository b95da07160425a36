"""The terminal summary of a what-if sweep. Never imports Pyomo."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from allocator.whatif.run import SweepReport

MAX_ROWS_SHOWN = 40
"""A longer sweep is summarized by counts; sweep.csv has every row."""


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _money(value: Any) -> str:
    return "-" if _missing(value) else f"{float(value):,.0f}"


def print_sweep(report: SweepReport, quiet: bool = False) -> None:
    """Counts and files; unless ``quiet``, the rows and the policy costs as tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = report.table
    if not quiet and len(table) <= MAX_ROWS_SHOWN:
        rows = Table(title=f"what-if sweep: {report.out_dir}")
        slips = [column for column in table.columns if column.startswith("slip_cost_")]
        headers = ["scenario", "status", "objective", "gap", "internal waiting", "per wafer"]
        headers += [column.replace("_", " ") for column in slips]
        for column in headers:
            left = column in ("scenario", "status")
            rows.add_column(column, justify="left" if left else "right", overflow="fold")
        for row in table.to_dict("records"):
            gap = row["mip_gap"]
            rows.add_row(
                str(row["scenario"]),
                str(row["status"]),
                _money(row["objective"]),
                "-" if _missing(gap) else f"{float(gap):.2%}",
                _money(row["internal_waiting_list_racks"]),
                _money(row["marginal_value_per_wafer"]),
                *(_money(row[column]) for column in slips),
            )
        console.print(rows)
    if not quiet and report.policy_costs is not None:
        costs = Table(title="what each policy costs (objective given up)")
        for column in ("policy", "cost", "bracket (MIP gap)", "exact"):
            costs.add_column(column, justify="left" if column == "policy" else "right")
        for cost in report.policy_costs.to_dict("records"):
            costs.add_row(
                str(cost["policy"]),
                _money(cost["cost"]),
                f"{_money(cost['cost_low'])} .. {_money(cost['cost_high'])}",
                str(cost["exact"]),
            )
        console.print(costs)
    console.print(
        f"{len(table)} scenarios, {report.solved + report.skipped} distinct: {report.solved} "
        f"solved now, {report.skipped} already done; {report.failed} without a plan; "
        f"{report.seconds:.1f} s; "
        f"{report.out_dir / 'sweep.csv'}" + "".join(f", {path}" for path in report.charts)
    )
