"""The last published plan, seen from tonight's instance: aligned, repaired, compared.

Pandas only (no model). The nightly run builds its stability terms and its MIP start
from a `Baseline`:

* ``published``: the last published shipments moved onto tonight's periods. When both
  instances have a ``start`` month, period t of the old instance is period
  ``t - shift`` tonight, ``shift`` = months from the old start to the new one (a
  rolled horizon); rows that fall before period 1 or after the horizon are history or
  out of sight and are dropped. Orders are matched by their id.
* ``plan``: the published plan repaired into a plan that satisfies every contract
  constraint of tonight's instance (`repair_plan`); it is the MIP start, and the
  witness that fixing the frozen periods to its shipments keeps the model feasible.

What "where still feasible" means for frozen periods: a published shipment is kept
exactly as far as it survives `repair_plan`, which cuts racks only where tonight's
instance makes the published plan break a constraint, and always cuts the latest
shipments first, so the frozen (earliest) periods lose racks only when the conflict
lies in them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from allocator.data.instance import Instance
from allocator.nightly.store import StoredPlan
from allocator.plan.check import check_plan
from allocator.plan.repair import repair_plan
from allocator.plan.tables import Plan

SHIP_COLUMNS = ["order", "customer", "product", "ship_period", "racks"]
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Baseline:
    """The last published plan against tonight's instance (see the module docstring).

    ``violations`` is `check_plan` of the repaired plan with the run's strictness: empty
    unless strict mode finds an internal fill the repaired plan cannot meet. ``removed``
    counts the racks the repair cut, by the constraint that forced the cut.
    """

    run_id: int
    shift: int
    published: pd.DataFrame
    plan: Plan
    violations: list[str]
    removed: dict[str, int] = field(default_factory=dict)

    @property
    def is_feasible(self) -> bool:
        return not self.violations

    def kept_racks(self, frozen_periods: int) -> dict[tuple[str, str, int], float]:
        """(order, product shipped, ship period) -> racks of the repaired plan in periods
        1..frozen_periods."""
        allocation = self.plan.allocation
        return cells(allocation[allocation["ship_period"] <= frozen_periods])

    def published_racks(self, first_period: int) -> dict[tuple[str, str, int], float]:
        """(order, product shipped, ship period) -> published racks in periods >=
        first_period."""
        return cells(self.published[self.published["ship_period"] >= first_period])


def cells(rows: pd.DataFrame) -> dict[tuple[str, str, int], float]:
    """Shipment rows as (order, product shipped, ship period) -> racks."""
    return {
        (order, product, int(period)): float(racks)
        for order, product, period, racks in zip(
            rows["order"], rows["product"], rows["ship_period"], rows["racks"], strict=True
        )
    }


def month_index(label: str) -> int:
    """``YYYY-MM`` -> months since year 0."""
    year, month = label.split("-")[:2]
    return int(year) * 12 + int(month) - 1


def period_shift(previous_start: str | None, start: str | None) -> int:
    """Periods the horizon moved forward since the previous plan (0 without start months)."""
    if previous_start is None or start is None:
        return 0
    return month_index(start) - month_index(previous_start)


def align_published(
    stored: StoredPlan, instance: Instance
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The stored shipments and surplus on tonight's periods: (ship rows with
    SHIP_COLUMNS, surplus rows, shift)."""
    shift = period_shift(stored.instance_start, instance.settings.start)
    ship = stored.plan.allocation[SHIP_COLUMNS].copy()
    ship["ship_period"] = ship["ship_period"].astype("int64") - shift
    in_horizon = ship["ship_period"].between(1, instance.periods)
    ship = ship[in_horizon & (ship["racks"] > 0)].reset_index(drop=True)
    surplus = stored.plan.surplus[["product", "period", "racks"]].copy()
    surplus["period"] = surplus["period"].astype("int64") - shift
    surplus = surplus[surplus["period"].between(1, instance.periods) & (surplus["racks"] > 0)]
    return ship, surplus.reset_index(drop=True), shift


def prepare_baseline(stored: StoredPlan, instance: Instance, *, strict: bool) -> Baseline:
    """Align the last published plan to ``instance`` and repair it (see `repair_plan`)."""
    published, surplus, shift = align_published(stored, instance)
    plan, removed = repair_plan(instance, published, surplus)
    violations = check_plan(instance, plan, strict=strict)
    return Baseline(stored.run_id, shift, published, plan, violations, removed)


# --- comparing plans ---------------------------------------------------------------------


def moved_racks(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Per (order, product shipped, ship period) present in either: customer, ``before``,
    ``after`` and ``moved`` = |after - before|. A rack shifted from one period, order or
    product (a substitute for the ordered product) to another counts once out and once in."""
    keys = ["order", "product", "ship_period"]
    left = before[[*keys, "customer", "racks"]].rename(columns={"racks": "before"})
    right = after[[*keys, "customer", "racks"]].rename(columns={"racks": "after"})
    table = left.merge(right, on=keys, how="outer", suffixes=("_before", "_after"))
    table["customer"] = table["customer_after"].fillna(table["customer_before"])
    table = table.drop(columns=["customer_before", "customer_after"])
    table[["before", "after"]] = table[["before", "after"]].fillna(0).astype(float)
    table["moved"] = (table["after"] - table["before"]).abs()
    table = table[table["moved"] > 0]
    columns = ["order", "product", "customer", "ship_period", "before", "after", "moved"]
    return table[columns].sort_values(keys).reset_index(drop=True)


def stability_cost(
    baseline: Baseline,
    plan: Plan,
    *,
    frozen_periods: int,
    change_penalty: float,
    frozen_change_cost: float = 0.0,
) -> float:
    """The stability terms' value recomputed from the plan's rows (the model subtracts the
    same from the contract's objective): ``change_penalty`` per rack moved against the published
    plan in periods after the frozen ones, plus ``frozen_change_cost`` per rack moved
    against the kept (repaired) plan in the frozen periods (nonzero only where frozen
    periods could not be fixed, see `allocator.model.stability`)."""
    cost = 0.0
    if change_penalty:
        moved = moved_racks(baseline.published, plan.allocation)
        cost += change_penalty * float(
            moved.loc[moved["ship_period"] > frozen_periods, "moved"].sum()
        )
    if frozen_change_cost and frozen_periods > 0:
        kept = baseline.plan.allocation
        moved = moved_racks(
            kept[kept["ship_period"] <= frozen_periods],
            plan.allocation[plan.allocation["ship_period"] <= frozen_periods],
        )
        cost += frozen_change_cost * float(moved["moved"].sum())
    return cost
