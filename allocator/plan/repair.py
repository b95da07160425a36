"""Repairing a plan by cutting only: the nightly repair and the rounding of an LP plan.

One cut engine behind the nightly repair of the published plan and the rounding of an
LP plan to whole racks.

`repair_plan` removes racks, step by step, wherever the instance makes a plan break a
constraint, in a chosen priority order; `round_plan` rounds a fractional plan (the LP
relaxation's) down to whole racks and repairs what rounding breaks. Both results pass
`allocator.plan.check.check_plan` outside strict mode.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.plan.tables import Plan, make_plan

TOLERANCE = 1e-9

CutOrder = Literal["latest", "least_value"]
"""Which racks a repair cuts first (see `repair_plan`)."""


def round_plan(instance: Instance, plan: Plan) -> Plan:
    """A feasible integer plan near a fractional one (the LP relaxation's), for a MIP start
    or an anytime plan: racks and surplus racks rounded down, then `repair_plan` with the
    racks of least value cut first wherever rounding broke a constraint (stock, deals
    below their minimum, the share cap). Strict internal fill may still fail:
    `check_plan` tells."""
    ship = plan.allocation[["order", "product", "ship_period", "racks"]].copy()
    ship["racks"] = np.floor(ship["racks"].astype(float) + 1e-6).astype("int64")
    surplus = plan.surplus[["product", "period", "racks"]].copy()
    surplus["racks"] = np.floor(surplus["racks"].astype(float) + 1e-6).astype("int64")
    rounded, _ = repair_plan(instance, ship, surplus, cut_first="least_value")
    return rounded


def repair_plan(
    instance: Instance,
    ship: pd.DataFrame,
    surplus: pd.DataFrame,
    *,
    cut_first: CutOrder = "latest",
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

    Steps 4-6 cut in ``cut_first`` order: ``latest`` (the nightly repair of a published
    plan) cuts the latest shipment first, then the one of least value per rack
    (`Instance.rack_value`), then by order id, so the published near-term plan survives
    wherever the conflict lies later; ``least_value`` (`round_plan`) cuts the rack of
    least value first, then the latest. y[c] = 1 exactly for third parties still shipping.
    Without strict mode the result passes `check_plan` (cutting never breaks steps 1-5,
    and 6-7 cut third-party racks only).
    """
    removed: dict[str, int] = {}
    rows = _ship_rows(instance, ship, removed, cut_first)
    surplus = _repair_surplus(instance, surplus, removed)
    rows = _cut_negative_stock(instance, rows, surplus, removed)
    rows = _cut_region_power(instance, rows, removed)
    rows = _cut_third_party_share(instance, rows, removed)
    rows = _cut_below_min_contract(instance, rows, removed)
    shipping = rows[rows["segment"] == "third_party"].groupby("customer")["racks"].sum()
    accepted = (shipping > 0).astype(float)
    plan = make_plan(
        instance, rows[["order", "product", "ship_period", "racks"]], surplus, accepted
    )
    return plan, {key: value for key, value in removed.items() if value}


def _count(removed: dict[str, int], reason: str, racks: float) -> None:
    removed[reason] = removed.get(reason, 0) + round(racks)


def _ship_rows(
    instance: Instance, ship: pd.DataFrame, removed: dict[str, int], cut_first: CutOrder
) -> pd.DataFrame:
    """Steps 1-2, and the columns the later steps use, in cutting priority order."""
    orders = instance.orders.set_index("order")
    rows = ship[["order", "ship_period", "racks"]].copy()
    rows["racks"] = rows["racks"].astype("int64")
    product = ship["product"] if "product" in ship.columns else ship["order"].map(orders["product"])
    rows["product"] = product.to_numpy()
    option = instance.option_rows(rows["order"], rows["product"])
    known = option >= 0
    options = instance.ship_options
    first = np.where(known, options["first_ship"].to_numpy()[option], 0)
    last = np.where(known, options["last_ship"].to_numpy()[option], -1)
    period = rows["ship_period"].to_numpy()
    inside = pd.Series(known & (period >= first) & (period <= last), index=rows.index)
    _count(removed, "ship_window", rows.loc[~inside, "racks"].sum())
    rows = rows[inside].sort_values(["order", "ship_period", "product"], kind="stable")
    earlier = rows.groupby("order")["racks"].cumsum() - rows["racks"]
    room = (rows["order"].map(orders["racks"]) - earlier).clip(lower=0)
    kept = np.minimum(rows["racks"], room)
    _count(removed, "order_quantity", (rows["racks"] - kept).sum())
    rows["racks"] = kept.astype("int64")
    for column in ("customer", "segment", "region"):
        rows[column] = rows["order"].map(orders[column])
    rows["unit_value"] = instance.rack_value(
        instance.option_rows(rows["order"], rows["product"]), rows["ship_period"].to_numpy()
    )
    rows = rows[rows["racks"] > 0]
    if cut_first == "latest":
        keys, ascending = ["ship_period", "unit_value", "order"], [False, True, True]
    else:
        keys, ascending = ["unit_value", "ship_period", "order"], [True, False, True]
    rows = rows.sort_values(keys, ascending=ascending, kind="stable")
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
