"""The plan a promise is made against: read from its folder, never written, and re-checked.

A plan folder is what ``allocator solve`` writes, a nightly published folder (the same
files and ``manifest.json``) or a ``runs export`` folder (``deals.csv`` instead of
``customers.csv``). The instance is the one given, else the one ``summary.json`` (or the
manifest) records. Before any answer the plan is re-checked against that instance: every
shipment must belong to an order of it with the same customer and requested period, and
every constraint of the contract must hold (`allocator.plan.check`). A plan that fails is
the instance having changed since the plan was made: `PromiseInputError`, nothing
answered. Nothing in the folder is ever written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from allocator.data.instance import Instance
from allocator.errors import PromiseInputError
from allocator.outputs.folder import (
    SUMMARY_FILE,
    SWEEP_FILE,
    ResultFolderError,
    read_result_csv,
)
from allocator.plan.check import check_plan
from allocator.plan.tables import Plan, make_plan, objective_terms

MANIFEST_FILE = "manifest.json"
DEALS_FILE = "deals.csv"
SHOWN_VIOLATIONS = 10
"""Violations listed in the message of a plan that fails its re-check (then a count)."""
OBJECTIVE_TOLERANCE = 1e-6
"""Relative difference between summary.json's objective and the recomputed one that is
worth a note."""


@dataclass(frozen=True)
class PlanInput:
    """A plan and the instance it is re-checked against. ``objective`` is the contract's
    objective recomputed from the plan's rows on ``instance``; ``notes`` say what a
    planner should know (the instance differs from the one solved, but the plan still
    holds)."""

    instance: Instance
    plan: Plan
    objective: float
    source: str
    """The plan folder, or ``the result`` for a plan in memory (`allocator.api.Result`)."""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanFolder:
    """The files of a plan folder a promise reads."""

    path: Path
    summary: dict[str, Any]
    manifest: dict[str, Any]
    allocation: pd.DataFrame
    surplus: pd.DataFrame
    deals: pd.Series | None
    """y[c] per third party from customers.csv (a solve, a nightly folder) or deals.csv
    (``runs export``); None when neither says."""

    def recorded(self, key: str) -> str | None:
        """``instance.KEY`` as summary.json (else manifest.json) records it."""
        for record in (self.summary, self.manifest):
            instance = record.get("instance")
            if isinstance(instance, dict) and instance.get(key):
                return str(instance[key])
        return None


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise PromiseInputError(f"{path} is not valid JSON: {error}") from None
    return data if isinstance(data, dict) else {}


def _deals(folder_customers: pd.DataFrame | None, path: Path) -> pd.Series | None:
    if folder_customers is not None and "deal_accepted" in folder_customers.columns:
        rows = folder_customers[folder_customers["segment"] == "third_party"]
        return pd.Series(
            rows["deal_accepted"].fillna(0).astype(float).to_numpy(), index=rows["customer"]
        )
    deals_path = path / DEALS_FILE
    if deals_path.exists():
        try:
            deals = pd.read_csv(deals_path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise PromiseInputError(f"{deals_path} cannot be read as CSV: {error}") from None
        if {"customer", "accepted"} <= set(deals.columns):
            return pd.Series(deals["accepted"].astype(float).to_numpy(), index=deals["customer"])
    return None


def read_plan_folder(path: Path) -> PlanFolder:
    """The plan files of ``path`` (read only); `PromiseInputError` when it holds no plan."""
    if not path.is_dir():
        raise PromiseInputError(f"PLAN_DIR {path} is not a folder")
    summary = _read_json(path / SUMMARY_FILE)
    manifest = _read_json(path / MANIFEST_FILE)
    if summary.get("status") == "infeasible":
        raise PromiseInputError(f"PLAN_DIR {path} holds no plan: its solve was infeasible")
    if summary.get("problem") == "lp_relaxation":
        raise PromiseInputError(
            f"PLAN_DIR {path} holds the LP relaxation (solved with --relax), not a plan of "
            "whole racks: promise against a MIP plan"
        )
    allocation = _read_plan_csv(path / "allocation.csv")
    if allocation is None:
        if (path / SWEEP_FILE).exists():
            raise PromiseInputError(
                f"PLAN_DIR {path} is a what-if sweep, not a plan: give one of its "
                "scenarios/<name> folders"
            )
        raise PromiseInputError(
            f"PLAN_DIR {path} holds no plan (no allocation.csv): give the folder of an "
            "`allocator solve` or a nightly published plan"
        )
    surplus = _read_plan_csv(path / "surplus.csv")
    if surplus is None:
        surplus = pd.DataFrame(
            {
                "product": pd.Series(dtype=str),
                "period": pd.Series(dtype="int64"),
                "racks": pd.Series(dtype="int64"),
            }
        )
    customers = _read_plan_csv(path / "customers.csv")
    return PlanFolder(path, summary, manifest, allocation, surplus, _deals(customers, path))


def _read_plan_csv(path: Path) -> pd.DataFrame | None:
    """A plan file as `allocator.outputs.folder` reads it (None when absent)."""
    try:
        return read_result_csv(path)
    except ResultFolderError as error:
        raise PromiseInputError(str(error)) from None


def instance_path(folder: PlanFolder, given: Path | None) -> Path:
    """``given``, else the instance the folder records; `PromiseInputError` when neither
    names one that exists."""
    if given is not None:
        return given
    recorded = folder.recorded("source")
    if recorded is None:
        raise PromiseInputError(
            f"{folder.path} does not record which instance it was solved from: give it with "
            "--instance"
        )
    path = Path(recorded)
    if not path.exists():
        raise PromiseInputError(
            f"the instance {folder.path} was solved from ({recorded}) is not found from here: "
            "give it with --instance"
        )
    return path


def _shipments_match(instance: Instance, allocation: pd.DataFrame) -> list[str]:
    """Each plan row's order must exist with the customer and requested period it had."""
    orders = instance.orders.set_index("order")
    known = allocation["order"].isin(orders.index)
    problems = [f"order {order} is not in the instance" for order in allocation["order"][~known]]
    rows = allocation[known]
    for column in ("customer", "period"):
        if column not in rows.columns:
            continue
        expected = rows["order"].map(orders[column])
        differs = rows[column].astype(str) != expected.astype(str)
        problems += [
            f"order {order}: the plan has {column} {had}, the instance {now}"
            for order, had, now in zip(
                rows["order"][differs], rows[column][differs], expected[differs], strict=True
            )
        ]
    return list(dict.fromkeys(problems))


def _deals_of(instance: Instance, folder: PlanFolder, allocation: pd.DataFrame) -> pd.Series:
    """y[c]: as the folder says, else a third party is taken as accepted when it ships."""
    if folder.deals is not None:
        return folder.deals
    third_party = instance.customers.loc[instance.customers["segment"] == "third_party"]
    shipped = allocation.groupby("customer")["racks"].sum()
    return (shipped.reindex(third_party["customer"], fill_value=0) > 0).astype(float)


def _failed(where: str, instance_source: str, violations: list[str]) -> PromiseInputError:
    shown = violations[:SHOWN_VIOLATIONS]
    more = len(violations) - len(shown)
    lines = [
        f"the plan in {where} fails its re-check against the instance {instance_source} "
        "(has the instance changed since the plan was made?); re-plan first:",
        *(f"  - {violation}" for violation in shown),
    ]
    if more:
        lines.append(f"  ... and {more} more")
    return PromiseInputError("\n".join(lines))


def recheck_plan(instance: Instance, plan: Plan, where: str) -> float:
    """`check_plan` (integral racks, the contract's constraints); the plan's objective
    recomputed from its rows, or `PromiseInputError` listing the violations."""
    violations = check_plan(instance, plan, strict=False, integral=True)
    if violations:
        raise _failed(where, instance.source or "given", violations)
    return float(sum(objective_terms(instance, plan).values()))


def checked_plan(
    instance: Instance,
    allocation: pd.DataFrame,
    surplus: pd.DataFrame,
    deals: pd.Series,
    where: str,
    *,
    recorded_hash: str | None = None,
    recorded_objective: object = None,
) -> PlanInput:
    """A plan's rows (allocation.csv's, surplus.csv's and the deals) on ``instance``,
    re-checked (see the module docstring); ``recorded_*``: what the plan's summary says,
    compared for the notes."""
    missing = [c for c in ("order", "product", "ship_period", "racks") if c not in allocation]
    if missing:
        raise PromiseInputError(f"{where}: allocation.csv lacks the column(s) {', '.join(missing)}")
    mismatched = _shipments_match(instance, allocation)
    if mismatched:
        raise _failed(where, instance.source or "given", mismatched)
    ship = allocation[["order", "product", "ship_period", "racks"]]
    plan = make_plan(instance, ship, surplus[["product", "period", "racks"]], deals)
    objective = recheck_plan(instance, plan, where)
    notes = []
    if recorded_hash and recorded_hash != instance.content_hash:
        notes.append(
            f"the instance is not the one the plan was solved from (content hash "
            f"{instance.content_hash[:12]}, the plan says {recorded_hash[:12]}); the plan still "
            "meets every constraint of it"
        )
    if isinstance(recorded_objective, int | float) and abs(
        recorded_objective - objective
    ) > OBJECTIVE_TOLERANCE * max(1.0, abs(objective)):
        notes.append(
            f"the plan's objective recomputed on this instance is {objective:,.0f}; "
            f"its summary says {recorded_objective:,.0f}"
        )
    return PlanInput(instance, plan, objective, where, tuple(notes))


def plan_input(folder: PlanFolder, instance: Instance) -> PlanInput:
    """The folder's plan on ``instance``, re-checked (see the module docstring)."""
    return checked_plan(
        instance,
        folder.allocation,
        folder.surplus,
        _deals_of(instance, folder, folder.allocation),
        str(folder.path),
        recorded_hash=folder.recorded("content_hash"),
        recorded_objective=folder.summary.get("objective"),
    )
