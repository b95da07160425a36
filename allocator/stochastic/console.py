"""The terminal summary of a two-stage plan: the figures, what they mean, each scenario's plan."""

from __future__ import annotations

from typing import Any

from allocator.stochastic.run import StochasticReport


def print_two_stage(report: StochasticReport, *, quiet: bool) -> None:
    """The planner's sentences, then a table of each scenario under the two-stage plan,
    alone, and with the mean scenario's first stage (nothing with ``quiet``)."""
    if quiet:
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    record = report.record
    for line in record["summary"]:
        console.print(line)
    table = Table(title="scenarios (objective, internal fill)")
    for column in ("scenario", "probability", "two-stage plan", "alone", "mean's first stage"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    rows = report.table
    for scenario in record["scenarios"]:
        name = scenario["scenario"]
        cells = [name, f"{scenario['probability']:.3g}"]
        for solve in ("recourse", "wait_and_see", "mean_first_stage"):
            match = rows[(rows["solve"] == solve) & (rows["scenario"] == name)]
            cells.append(_cell(match.iloc[0].to_dict() if len(match) else {}))
        table.add_row(*cells)
    console.print(table)
    console.print(
        f"written to {report.out_dir} ({report.solved} solved, {report.skipped} already done, "
        f"{report.seconds:,.1f} s)"
    )


def _cell(row: dict[str, Any]) -> str:
    objective = row.get("objective")
    if objective is None or objective != objective:
        return str(row.get("status", "-"))
    fill = row.get("internal_fill_rate")
    shown = f"{objective:,.0f}"
    return shown if fill is None or fill != fill else f"{shown} ({fill:.1%})"
