"""Read the run store for `allocator runs list | show | diff | export`. Never imports Pyomo.

``diff A B`` compares two runs' plans per customer and ship period: racks in A, racks
in B, the net change and the racks moved (sum over the customer's orders of
|racks in B - racks in A| per order and period; a rack shifted from one order or
period to another counts once out and once in), and the change of objective. When
both runs' instances have a start month, A's periods are moved onto B's calendar first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from allocator.atomic import publish_folder, write_json
from allocator.nightly.baseline import moved_racks, period_shift
from allocator.nightly.store import RunStore

DIFF_COLUMNS = ["customer", "ship_period", "month", "racks_a", "racks_b", "change", "moved"]


def runs_frame(store: RunStore, limit: int | None = 20) -> pd.DataFrame:
    """The newest runs, one row each, for `runs list`."""
    rows = []
    for run in store.runs(limit=limit):
        seconds = None
        if run["finished_at"] is not None:
            seconds = (run["finished_at"] - run["started_at"]).total_seconds()
        rows.append(
            {
                "id": run["id"],
                "status": run["status"],
                "phase": run["phase"] or "",
                "started": run["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
                "seconds": seconds,
                "instance": run["instance_name"] or run["instance_source"] or "",
                "objective": run["objective"],
                "gap": run["mip_gap"],
                "racks_moved": run["racks_moved"],
                "exit": run["exit_code"],
            }
        )
    columns = [
        "id", "status", "phase", "started", "seconds", "instance", "objective", "gap",
        "racks_moved", "exit",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def show_run(store: RunStore, run_id: int) -> dict[str, Any]:
    """A run's record for `runs show`: its columns, manifest and problems."""
    run = store.run(run_id)
    record = {
        key: (value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else value)
        for key, value in run.items()
        if key not in ("solver_log", "summary")
    }
    problems = store.problems(run_id)
    record["problems"] = problems.to_dict("records")
    record["plan_rows"] = len(store.plan(run_id).plan.allocation)
    return record


@dataclass(frozen=True)
class RunsDiff:
    """``table``: DIFF_COLUMNS per customer and ship period with a change."""

    run_a: int
    run_b: int
    objective_a: float | None
    objective_b: float | None
    table: pd.DataFrame

    @property
    def racks_moved(self) -> float:
        return float(self.table["moved"].sum())

    @property
    def objective_change(self) -> float | None:
        if self.objective_a is None or self.objective_b is None:
            return None
        return self.objective_b - self.objective_a


def diff_runs(store: RunStore, run_a: int, run_b: int) -> RunsDiff:
    """Racks moved per customer and period from run A's plan to run B's."""
    plan_a, plan_b = store.plan(run_a), store.plan(run_b)
    shift = period_shift(plan_a.instance_start, plan_b.instance_start)
    before = plan_a.plan.allocation.copy()
    before["ship_period"] = before["ship_period"] - shift
    after = plan_b.plan.allocation
    moved = moved_racks(before, after)
    table = (
        moved.groupby(["customer", "ship_period"])[["before", "after", "moved"]]
        .sum()
        .reset_index()
        .rename(columns={"before": "racks_a", "after": "racks_b"})
    )
    table["change"] = table["racks_b"] - table["racks_a"]
    table["month"] = [_month(plan_b.instance_start, t) for t in table["ship_period"]]
    table = table[DIFF_COLUMNS].sort_values(["customer", "ship_period"]).reset_index(drop=True)
    return RunsDiff(run_a, run_b, plan_a.objective, plan_b.objective, table)


def _month(start: str | None, period: int) -> str:
    if start is None:
        return f"P{period}"
    return str(pd.Period(start, freq="M") + (int(period) - 1))


def export_run(store: RunStore, run_id: int, out_dir: Path) -> list[str]:
    """A run's stored plan and records into ``out_dir`` (written whole or not at all):
    allocation.csv, surplus.csv, deals.csv, manifest.json, and where the run has them
    summary.json, problems.csv and highs.log. The file names written."""
    run = store.run(run_id)
    stored = store.plan(run_id)
    problems = store.problems(run_id)
    written: list[str] = []

    def fill(folder: Path) -> None:
        stored.plan.allocation.to_csv(folder / "allocation.csv", index=False, lineterminator="\n")
        stored.plan.surplus.to_csv(folder / "surplus.csv", index=False, lineterminator="\n")
        deals = pd.DataFrame(
            {"customer": stored.plan.deal_accepted.index, "accepted": stored.plan.deal_accepted}
        )
        deals.astype({"accepted": "int64"}).to_csv(
            folder / "deals.csv", index=False, lineterminator="\n"
        )
        written.extend(["allocation.csv", "surplus.csv", "deals.csv"])
        write_json(folder / "manifest.json", run["manifest"] or {})
        written.append("manifest.json")
        if run["summary"]:
            write_json(folder / "summary.json", run["summary"])
            written.append("summary.json")
        if len(problems):
            problems.to_csv(folder / "problems.csv", index=False, lineterminator="\n")
            written.append("problems.csv")
        if run["solver_log"]:
            (folder / "highs.log").write_text(run["solver_log"], encoding="utf-8")
            written.append("highs.log")

    publish_folder(out_dir, fill)
    return written
