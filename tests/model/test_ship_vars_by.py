"""`ship_vars_by`: ship column positions grouped by a value, the contract of every
family that sums an order's or a customer's ship variables."""

from __future__ import annotations

import numpy as np

from allocator.model.coefficients import ship_vars_by


def test_groups_keep_column_order_and_first_appearance() -> None:
    customers = np.array(["b", "a", "b", "c", "a"], dtype=object)
    grouped = ship_vars_by(customers)
    assert list(grouped) == ["b", "a", "c"]
    assert grouped == {"b": [0, 2], "a": [1, 4], "c": [3]}


def test_no_columns_no_groups() -> None:
    """A model without ship variables (every order outside its window) has no groups."""
    assert ship_vars_by(np.array([], dtype=object)) == {}


def test_every_column_in_exactly_one_group() -> None:
    rng = np.random.default_rng(7)
    orders = rng.choice([f"o{i}" for i in range(40)], size=500).astype(object)
    grouped = ship_vars_by(orders)
    assert sorted(c for columns in grouped.values() for c in columns) == list(range(500))
    for order, columns in grouped.items():
        assert columns == np.flatnonzero(orders == order).tolist()
