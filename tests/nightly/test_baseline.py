"""The published plan seen from a changed instance: aligned to a rolled horizon, repaired by
cutting only (latest shipments first, so frozen periods survive), racks moved counted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from allocator.data.instance import Instance
from allocator.data.validate import load_instance
from allocator.nightly.baseline import (
    align_published,
    moved_racks,
    period_shift,
    prepare_baseline,
    stability_cost,
)
from allocator.nightly.store import StoredPlan
from allocator.plan.check import check_plan
from allocator.plan.repair import repair_plan
from allocator.plan.tables import ALLOCATION_COLUMNS, Plan

TABLES = {
    "products.csv": (
        "product,available_from,wafers_per_rack,power_kw,holding_cost,initial_inventory\n"
        "P,1,2,10,0,0\n"
    ),
    "supply.csv": "product,period,base_racks,surplus_max_racks,surplus_cost\n"
    "P,1,4,0,0\nP,2,4,3,1\nP,3,4,0,0\n",
    "foundry.csv": "period,surplus_wafers\n2,6\n",
    "customers.csv": "customer,segment,region,min_fill,onboarding_cost,min_contract_racks\n"
    "A,internal,r1,0,0,0\nB,third_party,r2,0,0,3\n",
    "orders.csv": "order,customer,product,period,racks,price_per_rack,max_delay,delay_penalty\n"
    "a1,A,P,1,4,100,2,1\na2,A,P,2,4,90,1,1\nb1,B,P,1,4,80,2,1\n",
    "services.csv": "service,product,margin_per_rack\n",
    "attach.csv": "customer,service,attach_rate\n",
}
SETTINGS = """name = "repair"
periods = 3
start = "{start}"
[policy]
third_party_max_share = {share}
internal_shortfall_penalty = 1000.0
"""


def small_instance(
    folder: Path, start: str = "2027-01", share: float = 1.0, **tables: str
) -> Instance:
    """The instance above with some tables replaced (keyword: file stem)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "instance.toml").write_text(SETTINGS.format(start=start, share=share))
    for name, text in TABLES.items():
        (folder / name).write_text(tables.get(name.removesuffix(".csv"), text))
    if "regions" in tables:
        (folder / "regions.csv").write_text(tables["regions"])
    return load_instance(folder)


def ship(*rows: tuple[str, int, int], product: str = "P") -> pd.DataFrame:
    customers = {"a1": "A", "a2": "A", "b1": "B", "gone": "A"}
    return pd.DataFrame(
        [(order, customers[order], product, period, racks) for order, period, racks in rows],
        columns=["order", "customer", "product", "ship_period", "racks"],
    )


NO_SURPLUS = pd.DataFrame(
    {
        "product": pd.Series(dtype=str),
        "period": pd.Series(dtype="int64"),
        "racks": pd.Series(dtype="int64"),
    }
)


def cells(plan: Plan) -> dict[tuple[str, int], int]:
    allocation = plan.allocation
    return {
        (o, int(t)): int(r)
        for o, t, r in zip(
            allocation["order"], allocation["ship_period"], allocation["racks"], strict=True
        )
    }


def test_feasible_plan_is_kept_whole(tmp_path: Path) -> None:
    instance = small_instance(tmp_path)
    published = ship(("a1", 1, 4), ("a2", 2, 4), ("b1", 3, 4))
    plan, removed = repair_plan(instance, published, NO_SURPLUS)
    assert cells(plan) == {("a1", 1): 4, ("a2", 2): 4, ("b1", 3): 4}
    assert removed == {}
    assert plan.deal_accepted.to_dict() == {"B": 1.0}
    assert check_plan(instance, plan) == []


def test_less_supply_cuts_the_latest_shipments_first(tmp_path: Path) -> None:
    supply = "product,period,base_racks,surplus_max_racks,surplus_cost\nP,1,4,0,0\nP,2,1,0,0\n"
    instance = small_instance(tmp_path, supply=supply)
    published = ship(("a1", 1, 3), ("b1", 1, 1), ("a2", 2, 2), ("b1", 2, 3))
    plan, removed = repair_plan(instance, published, NO_SURPLUS)
    # 5 racks by period 2: period 1's 4 racks stay; of period 2's, the lower-value b1 goes
    # first; then b1 is left with 1 rack, below its minimum contract of 3: dropped
    assert cells(plan) == {("a1", 1): 3, ("a2", 2): 1}
    assert removed == {"stock_balance": 4, "third_party_deal": 1}
    assert check_plan(instance, plan) == []


def test_order_changes_keep_the_earliest_racks(tmp_path: Path) -> None:
    orders = (
        "order,customer,product,period,racks,price_per_rack,max_delay,delay_penalty\n"
        "a1,A,P,1,3,100,1,1\na2,A,P,2,4,90,1,1\nb1,B,P,1,4,80,2,1\n"
    )
    instance = small_instance(tmp_path, orders=orders)
    published = ship(("a1", 1, 2), ("a1", 2, 2), ("a1", 3, 1), ("gone", 1, 1), ("b1", 3, 4))
    plan, removed = repair_plan(instance, published, NO_SURPLUS)
    assert cells(plan) == {("a1", 1): 2, ("a1", 2): 1, ("b1", 3): 4}
    assert removed == {"ship_window": 2, "order_quantity": 1}
    assert check_plan(instance, plan) == []


def test_surplus_cut_to_cap_and_wafers(tmp_path: Path) -> None:
    instance = small_instance(tmp_path)
    published = ship(("a1", 1, 4), ("a2", 2, 4), ("b1", 2, 3))
    surplus = pd.DataFrame({"product": ["P", "P"], "period": [2, 3], "racks": [5, 1]})
    plan, removed = repair_plan(instance, published, surplus)
    # cap 3 racks in period 2 and 6 wafers / 2 per rack = 3; none can be made in period 3
    assert plan.surplus.to_dict("records") == [{"product": "P", "period": 2, "racks": 3}]
    assert removed == {"surplus": 3}
    assert check_plan(instance, plan) == []


def test_region_power_and_share(tmp_path: Path) -> None:
    regions = "region,period,power_kw\nr1,2,50\n"
    supply = "product,period,base_racks,surplus_max_racks,surplus_cost\nP,1,8,0,0\nP,2,4,0,0\n"
    instance = small_instance(tmp_path, share=0.4, regions=regions, supply=supply)
    published = ship(("a1", 1, 4), ("a2", 2, 4), ("b1", 1, 4))
    plan, removed = repair_plan(instance, published, NO_SURPLUS)
    # r1 takes 5 racks by period 2 (a2 cut by 3); then b1 may have 0.4 * total:
    # b1 = 4, A = 5 -> cut r with 4 - r <= 0.4 * (9 - r) -> r = 1; b1 = 3 meets its minimum
    assert cells(plan) == {("a1", 1): 4, ("a2", 2): 1, ("b1", 1): 3}
    assert removed == {"region_power": 3, "third_party_share": 1}
    assert check_plan(instance, plan) == []


def test_rolled_horizon_aligns_by_month(tmp_path: Path) -> None:
    orders = (  # upstream renumbered the periods: a2 is now wanted in period 1 (February)
        "order,customer,product,period,racks,price_per_rack,max_delay,delay_penalty\n"
        "a1,A,P,1,4,100,2,1\na2,A,P,1,4,90,1,1\nb1,B,P,1,4,80,2,1\n"
    )
    instance = small_instance(tmp_path, start="2027-02", orders=orders)
    old = ship(("a1", 1, 4), ("a2", 2, 4), ("b1", 3, 4))
    old.insert(2, "segment", ["internal", "internal", "third_party"])
    old.insert(4, "period", [1, 2, 1])
    stored = StoredPlan(
        7, "2027-01", None, 1.0, Plan(old[ALLOCATION_COLUMNS], NO_SURPLUS, pd.Series(dtype=float))
    )
    aligned, _, shift = align_published(stored, instance)
    assert shift == 1
    assert aligned[["order", "ship_period", "racks"]].values.tolist() == [
        ["a2", 1, 4],
        ["b1", 2, 4],
    ]
    baseline = prepare_baseline(stored, instance, strict=False)
    assert baseline.run_id == 7 and baseline.is_feasible
    assert baseline.kept_racks(1) == {("a2", "P", 1): 4.0}
    assert baseline.published_racks(2) == {("b1", "P", 2): 4.0}


def test_period_shift() -> None:
    assert period_shift("2027-01", "2027-03") == 2
    assert period_shift("2026-12", "2027-01") == 1
    assert period_shift(None, "2027-01") == 0
    assert period_shift("2027-05", "2027-05") == 0


def test_moved_racks_and_stability_cost(tmp_path: Path) -> None:
    instance = small_instance(tmp_path)
    before = ship(("a1", 1, 4), ("a2", 2, 4), ("b1", 3, 4))
    after = ship(("a1", 1, 3), ("a1", 3, 1), ("a2", 2, 4), ("b1", 3, 4))
    moved = moved_racks(before, after)
    assert moved[["order", "ship_period", "moved"]].values.tolist() == [
        ["a1", 1, 1.0],
        ["a1", 3, 1.0],
    ]
    # a switch of product (a substitute for the ordered one) is a change: out and in
    switched = pd.concat([ship(("a1", 1, 3)), ship(("a1", 1, 1), product="Q")])
    moved = moved_racks(ship(("a1", 1, 4)), switched)
    assert moved[["order", "product", "ship_period", "moved"]].values.tolist() == [
        ["a1", "P", 1, 1.0],
        ["a1", "Q", 1, 1.0],
    ]
    stored = StoredPlan(
        1,
        "2027-01",
        None,
        None,
        Plan(
            before.assign(segment="internal", period=1)[ALLOCATION_COLUMNS],
            NO_SURPLUS,
            pd.Series(dtype=float),
        ),
    )
    baseline = prepare_baseline(stored, instance, strict=False)
    plan, _ = repair_plan(instance, after, NO_SURPLUS)
    # a rack shifted from a1@1 to a1@3 counts out and in: 2 racks moved overall;
    # with period 1 frozen only the one in period 3 is charged
    assert stability_cost(baseline, plan, frozen_periods=0, change_penalty=10.0) == 20.0
    assert stability_cost(baseline, plan, frozen_periods=1, change_penalty=10.0) == 10.0
    assert stability_cost(
        baseline, plan, frozen_periods=1, change_penalty=0.0, frozen_change_cost=7.0
    ) == pytest.approx(7.0)
