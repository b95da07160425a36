"""A result folder read back from its files, for the planner's report and workbook.
Never imports Pyomo.

Reads what `allocator solve` writes (``summary.json``, ``allocation.csv``,
``customers.csv``, ``stock.csv``, ``surplus.csv``, ``marginal_values.csv``) and what a
what-if sweep writes (``sweep.csv``, ``policy_cost.csv``); any of them may be missing (a
sweep folder has no plan of its own). Also the small helpers the report and the workbook
share: month labels and fairness figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

SUMMARY_FILE = "summary.json"
PLAN_FILES = ("allocation", "customers", "stock", "surplus", "marginal_values")
SWEEP_FILE = "sweep.csv"
POLICY_COST_FILE = "policy_cost.csv"
STOCHASTIC_FILE = "stochastic.json"
FIRST_STAGE_FILE = "first_stage.csv"
SCENARIO_RESULTS_FILE = "scenario_results.csv"
REPORT_FILE = "report.html"
WORKBOOK_FILE = "plan.xlsx"


@dataclass(frozen=True)
class ResultFolder:
    """The files of one result folder as tables (None where a file is absent)."""

    path: Path
    summary: dict[str, Any] = field(default_factory=dict)
    allocation: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None
    stock: pd.DataFrame | None = None
    surplus: pd.DataFrame | None = None
    marginal_values: pd.DataFrame | None = None
    sweep: pd.DataFrame | None = None
    policy_cost: pd.DataFrame | None = None
    stochastic: dict[str, Any] | None = None
    """A two-stage plan's ``stochastic.json`` (with ``first_stage`` and ``scenario_results``)."""
    first_stage: pd.DataFrame | None = None
    scenario_results: pd.DataFrame | None = None

    @property
    def has_plan(self) -> bool:
        return bool(self.summary) and self.customers is not None and self.allocation is not None

    @property
    def name(self) -> str:
        return str(self._instance.get("name") or self.path.name)

    @property
    def currency(self) -> str:
        return str(self.summary.get("currency") or (self.stochastic or {}).get("currency") or "USD")

    @property
    def _instance(self) -> dict[str, Any]:
        return self.summary.get("instance") or (self.stochastic or {}).get("instance") or {}

    @property
    def periods(self) -> int:
        instance = self._instance
        if instance.get("periods"):
            return int(instance["periods"])
        frames = [frame for frame in (self.stock, self.marginal_values) if frame is not None]
        return max((int(frame["period"].max()) for frame in frames if len(frame)), default=0)

    @property
    def period_labels(self) -> dict[int, str]:
        instance = self._instance
        return period_labels(instance.get("start"), self.periods)

    def label(self, period: Any) -> str:
        if pd.isna(period):
            return ""
        return self.period_labels.get(int(period), f"P{int(period)}")

    def with_customers(self, customers: pd.DataFrame) -> ResultFolder:
        return replace(self, customers=customers)


def period_labels(start: str | None, periods: int) -> dict[int, str]:
    """Month labels (``2027-01``) from ``start``, else ``P1``, ``P2``, ... (the same as
    `allocator.data.instance.Instance.period_labels`)."""
    if not start:
        return {t: f"P{t}" for t in range(1, periods + 1)}
    first = pd.Period(start, freq="M")
    return {t: str(first + (t - 1)) for t in range(1, periods + 1)}


REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "allocation.csv": ("order", "customer", "segment", "product", "period", "ship_period", "racks"),
    "customers.csv": ("customer", "segment", "region", "requested", "allocated", "fill_rate"),
    "stock.csv": ("product", "period", "base", "surplus", "shipped", "stock"),
    "surplus.csv": ("product", "period", "racks"),
    "marginal_values.csv": ("resource", "item", "period", "value"),
    SWEEP_FILE: ("scenario", "kind", "surplus_scale", "status", "objective"),
    POLICY_COST_FILE: ("policy", "cost"),
    FIRST_STAGE_FILE: ("product", "period", "racks"),
    SCENARIO_RESULTS_FILE: ("solve", "scenario", "status"),
}
"""The columns the report reads from each file: a file without them is reported, not
read half."""


class ResultFolderError(ValueError):
    """A file of a result folder cannot be read (not JSON, not CSV, columns missing)."""


def read_result_folder(path: Path) -> ResultFolder:
    """Every known file of ``path``; raises FileNotFoundError when it holds none, and
    `ResultFolderError` naming the file when one is damaged."""
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a folder")
    summary_path = path / SUMMARY_FILE
    summary: dict[str, Any] = {}
    if summary_path.exists():
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise ResultFolderError(f"{summary_path} is not valid JSON: {error}") from None
        if not isinstance(summary, dict):
            raise ResultFolderError(f"{summary_path} is not a JSON object")
    tables = {name: read_result_csv(path / f"{name}.csv") for name in PLAN_FILES}
    stochastic = _read_json(path / STOCHASTIC_FILE)
    folder = ResultFolder(
        path,
        summary,
        sweep=read_result_csv(path / SWEEP_FILE),
        policy_cost=read_result_csv(path / POLICY_COST_FILE),
        stochastic=stochastic,
        first_stage=read_result_csv(path / FIRST_STAGE_FILE) if stochastic is not None else None,
        scenario_results=(
            read_result_csv(path / SCENARIO_RESULTS_FILE) if stochastic is not None else None
        ),
        **tables,
    )
    if not folder.summary and folder.sweep is None and folder.stochastic is None:
        raise FileNotFoundError(
            f"{path} has neither {SUMMARY_FILE} (a solve's result), {SWEEP_FILE} (a sweep) "
            f"nor {STOCHASTIC_FILE} (a two-stage plan)"
        )
    return folder


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ResultFolderError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ResultFolderError(f"{path} is not a JSON object")
    return data


def read_result_csv(path: Path) -> pd.DataFrame | None:
    """A result CSV as written: empty text cells stay empty strings in text columns."""
    if not path.exists():
        return None
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ResultFolderError(f"{path} cannot be read as CSV: {error}") from None
    missing = [name for name in REQUIRED_COLUMNS.get(path.name, ()) if name not in frame.columns]
    if missing:
        raise ResultFolderError(f"{path} lacks the column(s) {', '.join(missing)}")
    for column in ("item", "why_short", "message", "policy_dropped"):
        if column in frame.columns:
            frame[column] = ["" if pd.isna(value) else str(value) for value in frame[column]]
    if frame.empty:  # a header-only file reads as text columns; give counts their type
        counts = [column for column in ("period", "ship_period", "racks") if column in frame]
        frame = frame.astype({column: "int64" for column in counts})
    return frame


def fairness_table(customers: pd.DataFrame) -> pd.DataFrame:
    """Fill rate by segment and by region: ``group`` (segment or region), ``name``,
    ``customers``, ``requested``, ``allocated``, ``fill_rate``, ``waiting_list_racks``."""
    parts = []
    for group in ("segment", "region"):
        totals = customers.groupby(group, sort=True).agg(
            customers=("customer", "count"),
            requested=("requested", "sum"),
            allocated=("allocated", "sum"),
        )
        totals["fill_rate"] = totals["allocated"] / totals["requested"].where(
            totals["requested"] > 0
        )
        totals["waiting_list_racks"] = totals["requested"] - totals["allocated"]
        totals = totals.reset_index(names="name")
        totals.insert(0, "group", group)
        parts.append(totals)
    return pd.concat(parts, ignore_index=True)


def lowest_internal_fill(customers: pd.DataFrame) -> tuple[str, float] | None:
    """The internal customer with the lowest fill rate and that rate."""
    internal = customers[customers["segment"] == "internal"]
    if internal.empty:
        return None
    row = internal.sort_values(["fill_rate", "customer"]).iloc[0]
    return str(row["customer"]), float(row["fill_rate"])
