"""Available to promise on tiny instances whose answer is obvious by hand.

Each instance is solved to optimality (its plan checked to be the obvious one), written
as a plan folder, and the promise asked against that folder: free stock only, stock
plus surplus the plan did not buy (earliest schedule, cheapest surplus), the share cap,
region power (cumulative), a rejected deal's minimum (all or nothing), and stock that a
substitute shipment took.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import allocator
from allocator.promising.answer import PromiseAnswer
from tests.promising.helpers import (
    customer,
    order,
    product,
    snapshot,
    solved,
    supply,
    tiny_instance,
)


def ask(plan_dir: Path, **request: object) -> PromiseAnswer:
    """The available answer alone, with PLAN_DIR checked unchanged."""
    before = snapshot(plan_dir)
    answer = allocator.promise(plan_dir, capable=False, **request)  # type: ignore[arg-type]
    assert snapshot(plan_dir) == before
    return answer


def shipped(plan_dir: Path) -> dict[tuple[str, int], int]:
    allocation = pd.read_csv(plan_dir / "allocation.csv")
    return {
        (str(o), int(t)): int(r)
        for o, t, r in zip(
            allocation["order"], allocation["ship_period"], allocation["racks"], strict=True
        )
    }


def test_free_stock_only(tmp_path: Path) -> None:
    """5 racks made in period 1, o1 takes 3: 2 are left in stock for every period."""
    instance = tiny_instance(
        tmp_path / "instance",
        periods=3,
        products=[product()],
        supply_rows=[supply(1, 5)],
        customers=[customer("int1")],
        orders=[order("o1", "int1", 1, 3, 100)],
    )
    plan = solved(instance, tmp_path / "plan")
    assert shipped(plan) == {("o1", 1): 3}
    answer = ask(plan, customer="int1", product="p1", racks=5, period=2, max_delay=1)
    assert answer.available_racks == 2
    assert answer.available_schedule == [{"period": 2, "racks": 2}]
    assert answer.available_surplus == []
    assert answer.available.limits == ("supply",)
    assert answer.order.price_per_rack == 100  # the customer's highest price for p1
    assert answer.available.objective_change == 200  # 2 racks at 100, nothing else moves


def test_stock_plus_unbought_surplus_earliest_and_cheapest(tmp_path: Path) -> None:
    """Base racks all go to o1; surplus (1 rack in period 1 at 30, 2 in period 2 at 10)
    is not bought by the plan. Asked for 4 racks in periods 1..2: 3 can be made, shipped
    as early as possible: 1 in period 1 (its own surplus) and 2 in period 2 (3 in period 2
    would be possible too). Asked for 2 racks in period 2 alone: the period-2 surplus is
    cheaper than carrying period 1's."""
    instance = tiny_instance(
        tmp_path / "instance",
        periods=2,
        products=[product()],
        supply_rows=[supply(1, 2, surplus_max=1, cost=30), supply(2, 0, surplus_max=2, cost=10)],
        foundry=[{"period": 1, "surplus_wafers": 1}, {"period": 2, "surplus_wafers": 2}],
        customers=[customer("int1")],
        orders=[order("o1", "int1", 1, 2, 100)],
    )
    plan = solved(instance, tmp_path / "plan")
    assert shipped(plan) == {("o1", 1): 2}
    assert pd.read_csv(plan / "surplus.csv").empty
    answer = ask(plan, customer="int1", product="p1", racks=4, period=1, max_delay=1, price=50)
    assert answer.available_racks == 3
    assert answer.available_schedule == [{"period": 1, "racks": 1}, {"period": 2, "racks": 2}]
    assert answer.available_surplus == [
        {"product": "p1", "period": 1, "racks": 1},
        {"product": "p1", "period": 2, "racks": 2},
    ]
    assert answer.available.objective_change == 3 * 50 - 30 - 2 * 10
    later = ask(plan, customer="int1", product="p1", racks=2, period=2, price=50)
    assert later.available_racks == 2
    assert later.available_surplus == [{"product": "p1", "period": 2, "racks": 2}]
    assert later.available.limits == ()


def test_share_cap_stops_it(tmp_path: Path) -> None:
    """Share 0.5; the plan ships 4 internal and 2 third-party racks: a third party may get
    x more with 2 + x <= 0.5 * (6 + x), so x <= 2, though 10 racks are in stock."""
    instance = tiny_instance(
        tmp_path / "instance",
        periods=1,
        share=0.5,
        products=[product()],
        supply_rows=[supply(1, 12)],
        customers=[customer("int1"), customer("tp2")],
        orders=[order("o1", "int1", 1, 4, 100), order("o2", "tp2", 1, 2, 200)],
    )
    plan = solved(instance, tmp_path / "plan")
    assert shipped(plan) == {("o1", 1): 4, ("o2", 1): 2}
    answer = ask(plan, customer="tp2", product="p1", racks=5, period=1)
    assert answer.available_racks == 2
    assert answer.available.limits == ("third_party_share",)
    internal = ask(plan, customer="int1", product="p1", racks=5, period=1)
    assert internal.available_racks == 5  # an internal order only loosens the cap


def test_region_power_stops_it_cumulatively(tmp_path: Path) -> None:
    """1 kW a rack; region r1 has 5 kW by period 1 and 6 kW by period 2; o1 draws 3 kW in
    period 1. A new r1 order for periods 1..2 gets 2 racks in period 1 and 1 more in
    period 2 (the period-2 row counts period 1's racks); r2 is not limited."""
    instance = tiny_instance(
        tmp_path / "instance",
        periods=2,
        products=[product(power=1)],
        supply_rows=[supply(1, 20)],
        customers=[customer("int1"), customer("int2", region="r2")],
        orders=[order("o1", "int1", 1, 3, 100)],
        regions=[
            {"region": "r1", "period": 1, "power_kw": 5},
            {"region": "r1", "period": 2, "power_kw": 6},
        ],
    )
    plan = solved(instance, tmp_path / "plan")
    assert shipped(plan) == {("o1", 1): 3}
    answer = ask(plan, customer="int1", product="p1", racks=5, period=1, max_delay=1)
    assert answer.available_racks == 3
    assert answer.available_schedule == [{"period": 1, "racks": 2}, {"period": 2, "racks": 1}]
    assert answer.available.limits == ("region_power",)
    other = ask(plan, customer="int2", product="p1", racks=5, period=1, price=10)
    assert other.available_racks == 5


def _rejected_deal(tmp_path: Path, base: int) -> Path:
    """tp1's deal (3 racks at 10, minimum 3, onboarding 100) is worth less than its
    onboarding: rejected. int1 takes 3 racks; ``base - 3`` are left."""
    instance = tiny_instance(
        tmp_path / "instance",
        periods=1,
        products=[product()],
        supply_rows=[supply(1, base)],
        customers=[customer("int1"), customer("tp1", onboarding=100, min_contract=3)],
        orders=[order("o1", "int1", 1, 3, 100), order("o2", "tp1", 1, 3, 10)],
    )
    plan = solved(instance, tmp_path / "plan")
    assert shipped(plan) == {("o1", 1): 3}
    assert (
        pd.read_csv(plan / "customers.csv").set_index("customer").loc["tp1", "deal_accepted"] == 0
    )
    return plan


def test_rejected_deal_minimum_makes_it_all_or_nothing(tmp_path: Path) -> None:
    plan = _rejected_deal(tmp_path, base=5)  # 2 left: fewer than the minimum of 3
    answer = ask(plan, customer="tp1", product="p1", racks=5, period=1, price=60)
    assert answer.available_racks == 0
    assert answer.available.deal_started is False
    assert answer.available.limits == ("supply", "minimum_contract")


def test_rejected_deal_starts_at_its_minimum(tmp_path: Path) -> None:
    plan = _rejected_deal(tmp_path, base=6)  # 3 left: the deal can start
    answer = ask(plan, customer="tp1", product="p1", racks=5, period=1, price=60)
    assert answer.available_racks == 3
    assert answer.available.deal_started is True
    assert answer.available.objective_change == 3 * 60 - 100  # onboarding counted


def test_substitute_shipment_takes_the_stock(tmp_path: Path) -> None:
    """o2 orders p2 (none made) and takes p1 as a substitute: p1's stock of 4 keeps 1."""
    instance = tiny_instance(
        tmp_path / "instance",
        periods=1,
        products=[product("p1"), product("p2")],
        supply_rows=[supply(1, 4)],
        customers=[customer("int1")],
        orders=[order("o2", "int1", 1, 3, 100, product_name="p2")],
        substitutes=[{"order": "o2", "product": "p1", "price_per_rack": 90}],
    )
    plan = solved(instance, tmp_path / "plan")
    assert shipped(plan) == {("o2", 1): 3}
    answer = ask(plan, customer="int1", product="p1", racks=4, period=1)
    assert answer.order.price_per_rack == 90  # its substitute row for p1
    assert answer.available_racks == 1


@pytest.mark.parametrize("racks", [1, 7])
def test_empty_window_ships_nothing(tmp_path: Path, racks: int) -> None:
    """p2 ships from period 2: an order for period 1 with no delay cannot take it."""
    instance = tiny_instance(
        tmp_path / "instance",
        periods=2,
        products=[product("p1"), product("p2", available_from=2)],
        supply_rows=[supply(2, 9, product="p2")],
        customers=[customer("int1")],
        orders=[order("o1", "int1", 2, 1, 100, product_name="p2")],
    )
    plan = solved(instance, tmp_path / "plan")
    answer = ask(plan, customer="int1", product="p2", racks=racks, period=1)
    assert answer.available_racks == 0
    assert answer.available.limits == ("ship_window",)
    assert any("ships only from" in note for note in answer.notes)
