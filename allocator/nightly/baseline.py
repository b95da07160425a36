"""The last published plan, seen from tonight's instance: aligned, repaired, compared.

Pandas only (no model). The nightly run builds its stability terms and its MIP start
from a `Baseline`:

* ``published``: the last published shipments moved onto tonight's periods. When both
  instances have a ``start`` month, period t of the old instance is period
  ``t - shift`` tonight, ``shift`` = months from the old start to the new one (a
  rolled horizon); rows that fall before period 1 or after the horizon are history or
  out of sight and are dropped. Orders are matched by their id.
* ``plan``: the published plan repaired into a plan that satisfies every SPEC
  constraint of tonight's instance (`repair_plan`); it is the MIP start, and the
  witness that fixing the frozen periods to its shipments keeps the model feasible.

What "where still feasible" means for frozen periods: a published shipment is kept
exactly as far as it survives `repair_plan`, which cuts racks only where tonight's
instance makes the published plan break a constraint, and always cuts the latest
shipments first, so the frozen (earliest) periods lose racks only when the conflict
lies in them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.nightly.store import StoredPlan
from allocator.plan.tables import Plan, check_plan, make_plan

SHIP_COLUMNS = ["order", "customer", "ship_period", "racks"]
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

    def kept_racks(self, frozen_periods: int) -> dict[tuple[str, int], float]:
        """(order, ship period) -> racks of the repaired plan in periods 1..frozen_periods."""
        allocation = self.plan.allocation
        frozen = allocation[allocation["ship_period"] <= frozen_periods]
        return {
            (order, int(period)): float(racks)
            for order, period, racks in zip(
                frozen["order"], frozen["ship_period"], frozen["racks"], strict=True
            )
        }

    def published_racks(self, first_period: int) -> dict[tuple[str, int], float]:
        """(order, ship period) -> published racks in periods >= first_period."""
        later = self.published[self.published["ship_period"] >= first_period]
        return {
            (order, int(period)): float(racks)
            for order, period, racks in zip(
                later["order"], later["ship_period"], later["racks"], strict=True
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


# --- repair ----------------------------------------------------------------------------


def repair_plan(
    instance: Instance, ship: pd.DataFrame, surplus: pd.DataFrame
) -> tuple[Plan, dict[str, int]]:
    """The nearest plan to (ship, surplus) this instance allows, by cutting only.

    In order, each step removing racks where the one before cannot break its check:

    1. ``ship_window``: shipments of orders that no longer exist or outside W(o);
    2. ``order_quantity``: racks beyond q(o), keeping an order's earliest shipments;
    3. ``surplus``: surplus racks where s[p,t] does not exist, above surplus_max_racks,
       or (most wafers per rack first) above the foundry's surplus_wafers[t];
    4. ``stock_balance``: where a product's stock would go negative at t, racks shipped
       in periods <= t;
    5. ``region_power``: where a region's cumulative kW exceeds a regions.csv row (g, t),
       racks delivered to g in periods <= t;
    6. ``third_party_share``: third-party racks while above the share cap;
    7. ``third_party_deal``: every rack of a third party left below its minimum contract.

    Steps 4-6 cut the latest shipment first, then the one of least unit value
    (pi + m - k * delay), then by order id: the published near-term plan survives
    wherever the conflict lies later. y[c] = 1 exactly for third parties still shipping.
    Without strict mode the result passes `check_plan` (cutting never breaks steps 1-5,
    and 6-7 cut third-party racks only).
    """
    removed: dict[str, int] = {}
    rows = _ship_rows(instance, ship, removed)
    surplus = _repair_surplus(instance, surplus, removed)
    rows = _cut_negative_stock(instance, rows, surplus, removed)
    rows = _cut_region_power(instance, rows, removed)
    rows = _cut_third_party_share(instance, rows, removed)
    rows = _cut_below_min_contract(instance, rows, removed)
    shipping = rows[rows["segment"] == "third_party"].groupby("customer")["racks"].sum()
    accepted = (shipping > 0).astype(float)
    plan = make_plan(instance, rows[["order", "ship_period", "racks"]], surplus, accepted)
    return plan, {key: value for key, value in removed.items() if value}


def _count(removed: dict[str, int], reason: str, racks: float) -> None:
    removed[reason] = removed.get(reason, 0) + round(racks)


def _ship_rows(instance: Instance, ship: pd.DataFrame, removed: dict[str, int]) -> pd.DataFrame:
    """Steps 1-2, and the columns the later steps use, in cutting priority order."""
    orders = instance.orders.set_index("order")
    rows = ship[["order", "ship_period", "racks"]].copy()
    rows["racks"] = rows["racks"].astype("int64")
    known = rows["order"].isin(orders.index)
    first = rows["order"].map(orders["first_ship"])
    last = rows["order"].map(orders["last_ship"])
    inside = known & (rows["ship_period"] >= first) & (rows["ship_period"] <= last)
    _count(removed, "ship_window", rows.loc[~inside, "racks"].sum())
    rows = rows[inside].sort_values(["order", "ship_period"], kind="stable")
    earlier = rows.groupby("order")["racks"].cumsum() - rows["racks"]
    room = (rows["order"].map(orders["racks"]) - earlier).clip(lower=0)
    kept = np.minimum(rows["racks"], room)
    _count(removed, "order_quantity", (rows["racks"] - kept).sum())
    rows["racks"] = kept.astype("int64")
    for column in ("customer", "segment", "product", "region"):
        rows[column] = rows["order"].map(orders[column])
    late = rows["ship_period"] - rows["order"].map(orders["period"])
    rows["unit_value"] = (
        rows["order"].map(orders["price_per_rack"] + orders["margin_per_rack"])
        - rows["order"].map(orders["delay_penalty"]) * late
    )
    rows = rows[rows["racks"] > 0]
    rows = rows.sort_values(
        ["ship_period", "unit_value", "order"], ascending=[False, True, True], kind="stable"
    )
    return rows.reset_index(drop=True)


def _repair_surplus(
    instance: Instance, surplus: pd.DataFrame, removed: dict[str, int]
) -> pd.DataFrame:
    """Step 3."""
    products = instance.products.set_index("product")
    grid = instance.supply.set_index(["product", "period"])["surplus_max_racks"]
    surplus = surplus.groupby(["product", "period"])["racks"].sum().reset_index()
    keys = pd.MultiIndex.from_arrays([surplus["product"], surplus["period"]])
    cap = pd.Series(grid.reindex(keys).fillna(0).to_numpy(), index=surplus.index)
    available_from = surplus["product"].map(products["available_from"])
    cap = cap.where(surplus["period"] >= available_from, 0)
    kept = np.minimum(surplus["racks"], cap).astype("int64")
    _count(removed, "surplus", (surplus["racks"] - kept).sum())
    surplus = surplus.assign(racks=kept)
    surplus["wafers_per_rack"] = surplus["product"].map(products["wafers_per_rack"]).astype(float)
    surplus = surplus.sort_values(
        ["period", "wafers_per_rack", "product"], ascending=[True, False, True]
    )
    racks = surplus["racks"].to_numpy().copy()
    wafers = surplus["wafers_per_rack"].to_numpy()
    offered = dict(zip(instance.surplus_wafers.index, instance.surplus_wafers, strict=True))
    for period, index in surplus.groupby("period").indices.items():
        excess = float((racks[index] * wafers[index]).sum()) - float(offered[period])
        for row in index:
            if excess <= TOLERANCE:
                break
            if wafers[row] <= 0:
                continue
            cut = min(int(racks[row]), math.ceil(excess / wafers[row] - TOLERANCE))
            racks[row] -= cut
            excess -= cut * wafers[row]
            _count(removed, "surplus", cut)
    surplus = surplus.assign(racks=racks)
    surplus = surplus.loc[surplus["racks"] > 0, ["product", "period", "racks"]]
    return surplus.astype({"product": str, "period": "int64", "racks": "int64"}).reset_index(
        drop=True
    )


def _cut(
    racks: np.ndarray, candidates: np.ndarray, amount: float, per_rack: np.ndarray | None = None
) -> float:
    """Cut racks of ``candidates`` (row positions, in priority order) until ``amount``
    (racks, or units of ``per_rack`` each) is covered; the amount covered."""
    covered = 0.0
    for row in candidates:
        if covered >= amount - TOLERANCE:
            break
        unit = 1.0 if per_rack is None else float(per_rack[row])
        if unit <= 0 or racks[row] <= 0:
            continue
        cut = min(int(racks[row]), math.ceil((amount - covered) / unit - TOLERANCE))
        racks[row] -= cut
        covered += cut * unit
    return covered


def _cut_negative_stock(
    instance: Instance, rows: pd.DataFrame, surplus: pd.DataFrame, removed: dict[str, int]
) -> pd.DataFrame:
    """Step 4."""
    racks = rows["racks"].to_numpy().copy()
    made = surplus.groupby(["product", "period"])["racks"].sum()
    initial = instance.products.set_index("product")["initial_inventory"]
    products = rows["product"].to_numpy()
    periods = rows["ship_period"].to_numpy()
    for product, supply in instance.supply.groupby("product", sort=False):
        stock = float(initial[product])
        of_product = products == product
        for period, base in zip(supply["period"], supply["base_racks"], strict=True):
            stock += float(base) + float(made.get((product, period), 0))
            stock -= float(racks[of_product & (periods == period)].sum())
            if stock < -TOLERANCE:
                candidates = np.flatnonzero(of_product & (periods <= period))
                covered = _cut(racks, candidates, -stock)
                _count(removed, "stock_balance", covered)
                stock += covered
    return rows.assign(racks=racks).loc[racks > 0].reset_index(drop=True)


def _cut_region_power(
    instance: Instance, rows: pd.DataFrame, removed: dict[str, int]
) -> pd.DataFrame:
    """Step 5."""
    racks = rows["racks"].to_numpy().copy()
    kw = rows["product"].map(instance.products.set_index("product")["power_kw"]).to_numpy(float)
    regions = rows["region"].to_numpy()
    periods = rows["ship_period"].to_numpy()
    limits = instance.regions.sort_values(["region", "period"], kind="stable")
    for region, period, limit in zip(
        limits["region"], limits["period"], limits["power_kw"], strict=True
    ):
        candidates = np.flatnonzero((regions == region) & (periods <= period))
        excess = float((racks[candidates] * kw[candidates]).sum()) - float(limit)
        if excess > TOLERANCE * max(1.0, float(limit)):
            before = racks[candidates].sum()
            _cut(racks, candidates, excess, kw)
            _count(removed, "region_power", before - racks[candidates].sum())
    return rows.assign(racks=racks).loc[racks > 0].reset_index(drop=True)


def _cut_third_party_share(
    instance: Instance, rows: pd.DataFrame, removed: dict[str, int]
) -> pd.DataFrame:
    """Step 6: cutting r third-party racks lowers the excess by r * (1 - share)."""
    share = float(instance.policy.third_party_max_share)
    racks = rows["racks"].to_numpy().copy()
    third_party = (rows["segment"] == "third_party").to_numpy()
    excess = float(racks[third_party].sum()) - share * float(racks.sum())
    if excess > TOLERANCE and share < 1.0:
        candidates = np.flatnonzero(third_party)
        covered = _cut(racks, candidates, excess / (1.0 - share))
        _count(removed, "third_party_share", covered)
    return rows.assign(racks=racks).loc[racks > 0].reset_index(drop=True)


def _cut_below_min_contract(
    instance: Instance, rows: pd.DataFrame, removed: dict[str, int]
) -> pd.DataFrame:
    """Step 7."""
    min_contract = instance.customers.set_index("customer")["min_contract_racks"]
    third_party = rows[rows["segment"] == "third_party"]
    shipped = third_party.groupby("customer")["racks"].sum()
    below = [c for c, total in shipped.items() if 0 < total < min_contract.get(c, 0)]
    dropped = rows["customer"].isin(below)
    _count(removed, "third_party_deal", rows.loc[dropped, "racks"].sum())
    return rows[~dropped].reset_index(drop=True)


# --- comparing plans ---------------------------------------------------------------------


def moved_racks(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Per (order, ship period) present in either: customer, ``before``, ``after`` and
    ``moved`` = |after - before|. A rack shifted from one period (or order) to another
    counts once out and once in."""
    keys = ["order", "ship_period"]
    left = before[[*keys, "customer", "racks"]].rename(columns={"racks": "before"})
    right = after[[*keys, "customer", "racks"]].rename(columns={"racks": "after"})
    table = left.merge(right, on=keys, how="outer", suffixes=("_before", "_after"))
    table["customer"] = table["customer_after"].fillna(table["customer_before"])
    table = table.drop(columns=["customer_before", "customer_after"])
    table[["before", "after"]] = table[["before", "after"]].fillna(0).astype(float)
    table["moved"] = (table["after"] - table["before"]).abs()
    table = table[table["moved"] > 0]
    columns = ["order", "customer", "ship_period", "before", "after", "moved"]
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
    same from SPEC's objective): ``change_penalty`` per rack moved against the published
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
