"""The new order of a promise: defaults from the instance, every bad request one clear error.

Bad requests raise `PromiseInputError` (the command's exit 2) before anything is solved:
an unknown customer or product (with the closest name), racks < 1, a period outside the
horizon, no price to default to.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from allocator.data.instance import Instance
from allocator.data.validate import load_instance
from allocator.errors import PromiseInputError
from allocator.promising.request import PromiseRequest, new_order, with_order
from tests.promising.helpers import customer, order, product, supply, tiny_instance


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Instance:
    folder = tmp_path_factory.mktemp("request") / "instance"
    tiny_instance(
        folder,
        periods=4,
        products=[product("p1"), product("p2", available_from=3)],
        supply_rows=[supply(1, 5)],
        customers=[customer("int1"), customer("tp2"), customer("int3")],
        orders=[
            order("o1", "int1", 1, 2, 100),
            order("o2", "int1", 2, 1, 140, max_delay=1),
            order("promise-1", "tp2", 1, 1, 90),
        ],
    )
    return load_instance(folder)


def ask(instance: Instance, **changes: object) -> PromiseRequest:
    request = {"customer": "int1", "product": "p1", "racks": 3, "period": 2, **changes}
    return PromiseRequest(**request)  # type: ignore[arg-type]


def test_defaults_follow_the_contract(instance: Instance) -> None:
    made = new_order(instance, ask(instance))
    assert made.order == "promise-2"  # promise-1 is taken by an order of the instance
    assert made.price_per_rack == 140  # int1's highest price for p1 (o2)
    assert made.price_source.endswith("(o2)")
    assert (made.max_delay, made.delay_penalty) == (0, 0.0)
    assert (made.first_ship, made.last_ship) == (2, 2)
    assert (made.segment, made.region) == ("internal", "r1")


def test_window_follows_available_from_and_the_horizon(instance: Instance) -> None:
    made = new_order(instance, ask(instance, product="p2", period=2, max_delay=5, price=7.5))
    assert (made.first_ship, made.last_ship) == (3, 4)
    assert made.price_source == "given"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"customer": "int9"}, "unknown customer 'int9': customers.csv has no such customer"),
        ({"customer": "in1"}, "did you mean 'int1'?"),
        ({"product": "p3"}, "unknown product 'p3'"),
        ({"racks": 0}, "racks must be a whole number from 1"),
        ({"period": 0}, "period 0 is outside the plan's horizon: periods 1..4"),
        ({"period": 5}, "period 5 is outside the plan's horizon"),
        ({"max_delay": -1}, "max delay must be"),
        ({"price": -1.0}, "price must be a finite amount"),
        ({"price": float("nan")}, "price must be a finite amount"),
        ({"delay_penalty": float("inf")}, "delay penalty must be a finite amount"),
        ({"customer": "int3"}, "int3 has no order for p1, so it has no price per rack"),
    ],
)
def test_bad_request_is_one_clear_error(
    instance: Instance, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(PromiseInputError, match=re.escape(message)):
        new_order(instance, ask(instance, **changes))


def test_with_order_adds_one_order_and_leaves_the_instance(instance: Instance) -> None:
    before = instance.orders.copy()
    made = new_order(instance, ask(instance, racks=4))
    augmented = with_order(instance, made)
    assert instance.orders.equals(before)
    assert len(augmented.orders) == len(before) + 1
    row = augmented.orders.iloc[-1]
    assert (row["order"], row["customer"], row["racks"], row["last_ship"]) == (
        "promise-2",
        "int1",
        4,
        2,
    )
    assert augmented.ship_options["order"].tolist()[-1] == "promise-2"


def test_new_order_is_not_written_anywhere(instance: Instance, tmp_path: Path) -> None:
    source = Path(instance.source)
    files = {path.name: path.read_bytes() for path in source.iterdir()}
    with_order(instance, new_order(instance, ask(instance)))
    assert {path.name: path.read_bytes() for path in source.iterdir()} == files
