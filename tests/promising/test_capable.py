"""Capable to promise on tiny instances whose re-planned answer is obvious by hand.

The whole model is solved again with the order added: it displaces a cheaper order
(named in orders_losing), equals the available answer when nothing is worth displacing,
counts the new order in an internal customer's committed fill as any order, and never
answers worse than keeping the plan with the available schedule.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import allocator
import allocator.promising.capable
from allocator.promising.capable import KEPT_PLAN
from tests.promising.helpers import (
    customer,
    order,
    product,
    snapshot,
    solved,
    supply,
    tiny_instance,
)


def _one_product(tmp_path: Path, base: int, customers: list[dict], orders: list[dict]) -> Path:
    instance = tiny_instance(
        tmp_path / "instance",
        periods=1,
        products=[product()],
        supply_rows=[supply(1, base)],
        customers=customers,
        orders=orders,
        penalty=1000.0,
    )
    return solved(instance, tmp_path / "plan")


def test_capable_displaces_a_cheaper_order(tmp_path: Path) -> None:
    """3 racks, all to o1 at 100; a new order worth 500 a rack takes them in a new plan."""
    plan = _one_product(
        tmp_path, 3, [customer("int1"), customer("int2")], [order("o1", "int1", 1, 3, 100)]
    )
    before = snapshot(plan)
    answer = allocator.promise(
        plan, customer="int2", product="p1", racks=3, period=1, price=500, mip_gap=0.0
    )
    assert snapshot(plan) == before
    assert answer.available_racks == 0
    assert answer.capable_racks == 3
    assert answer.orders_losing == [{"order": "o1", "racks_before": 3, "racks_after": 0}]
    assert answer.objective_change == 3 * (500 - 100)
    assert answer.capable is not None and answer.capable.schedule == ((1, 3),)


def test_capable_keeps_orders_worth_more(tmp_path: Path) -> None:
    """Worth 50 a rack, the new order gets only the 2 racks o1 leaves: as available."""
    plan = _one_product(tmp_path, 5, [customer("int1")], [order("o1", "int1", 1, 3, 100)])
    answer = allocator.promise(
        plan, customer="int1", product="p1", racks=5, period=1, price=50, mip_gap=0.0
    )
    assert answer.available_racks == answer.capable_racks == 2
    assert answer.orders_losing == []
    assert answer.objective_change == answer.available.objective_change == 2 * 50


def test_new_order_counts_in_the_committed_fill(tmp_path: Path) -> None:
    """int1 must get half of what it orders (penalty 1000 a rack short): with o1 (2 racks,
    shipped) it is committed 1. A new int1 order of 4 racks at 10 raises that to 3, one
    rack more than o1 ships. Kept as planned (no stock left) the order gets nothing and
    int1 is 1 rack short. Re-planned, one rack of o2 (int2, 300) goes to the new order
    (10, and 1000 of penalty saved); a second rack would only earn 10."""
    plan = _one_product(
        tmp_path,
        4,
        [customer("int1", min_fill=0.5), customer("int2")],
        [order("o1", "int1", 1, 2, 100), order("o2", "int2", 1, 2, 300)],
    )
    answer = allocator.promise(
        plan, customer="int1", product="p1", racks=4, period=1, price=10, mip_gap=0.0
    )
    assert answer.available_racks == 0
    assert answer.available.objective_change == -1000
    assert answer.capable_racks == 1
    assert answer.orders_losing == [{"order": "o2", "racks_before": 2, "racks_after": 1}]
    assert answer.objective_change == 10 - 300
    assert any("from 1.00 to 3.00" in note for note in answer.notes)


def test_a_re_solve_without_a_better_plan_keeps_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-solve stopped (time limit) with no plan, or a worse one than keeping the plan
    and adding the available schedule (feasible for the same model), answers with that."""
    plan = _one_product(tmp_path, 5, [customer("int1")], [order("o1", "int1", 1, 3, 100)])

    def stopped(*args: object, **kwargs: object) -> SimpleNamespace:
        return SimpleNamespace(
            plan=None, objective=None, violations=[], termination="time_limit", mip_gap=None
        )

    monkeypatch.setattr(allocator.promising.capable, "solve_instance", stopped)
    answer = allocator.promise(plan, customer="int1", product="p1", racks=5, period=1, price=50)
    assert answer.capable_racks == answer.available_racks == 2
    assert answer.objective_change == answer.available.objective_change == 100
    assert answer.orders_losing == []
    assert answer.capable is not None and answer.capable.plan_source == KEPT_PLAN
    assert any("found no plan better than keeping the plan" in note for note in answer.notes)
