"""The new order a promise is about: checked, completed with its defaults, added to a copy.

The contract's defaults: the order may ship until ``period + max_delay`` (``max_delay``
0), at ``delay_penalty`` 0, worth the customer's highest ``price_per_rack`` for the
product; its service margin follows from the customer's attach rates, as for every order.
A customer with no order for the product (and no substitute row for it) has no such
price: the request must then give one (`PromiseInputError`), rather than allocator
guessing what the rack is worth.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from allocator.data.instance import Instance, base_tables, build_instance
from allocator.data.schema import MAX_MONEY, MAX_PERIODS, MAX_RACKS
from allocator.errors import PromiseInputError

ORDER_PREFIX = "promise-"
"""The new order's id is ``promise-1`` (``promise-2``, ... if the instance has that id)."""


@dataclass(frozen=True)
class PromiseRequest:
    """What sales asks: ``racks`` of ``product`` for ``customer`` in ``period``; None for
    ``price`` means the contract's default (module docstring)."""

    customer: str
    product: str
    racks: int
    period: int
    max_delay: int = 0
    price: float | None = None
    delay_penalty: float = 0.0


@dataclass(frozen=True)
class NewOrder:
    """The request as an order of the instance: every column of ``orders.csv`` and what
    follows from them (the ship window ``first_ship..last_ship``, empty when
    ``first_ship > last_ship``; the service margin per rack)."""

    order: str
    customer: str
    segment: str
    region: str
    product: str
    racks: int
    period: int
    max_delay: int
    price_per_rack: float
    price_source: str
    """Where the price came from: ``given``, or the order it was taken from."""
    delay_penalty: float
    margin_per_rack: float
    first_ship: int
    last_ship: int

    @property
    def ship_periods(self) -> np.ndarray:
        """The window W as periods (empty when the product ships only after it)."""
        return np.arange(self.first_ship, self.last_ship + 1, dtype=np.int64)

    def order_row(self) -> dict[str, object]:
        """The row of ``orders.csv`` this order would be."""
        return {
            "order": self.order,
            "customer": self.customer,
            "product": self.product,
            "period": self.period,
            "racks": self.racks,
            "price_per_rack": self.price_per_rack,
            "max_delay": self.max_delay,
            "delay_penalty": self.delay_penalty,
        }


def table_row(table: pd.DataFrame, key: str, value: str) -> dict[str, Any]:
    """The row of ``table`` whose ``key`` column is ``value``, as a dict."""
    rows = table.loc[table[key] == value]
    return {str(name): item for name, item in rows.iloc[0].items()}


def _unknown(kind: str, name: str, known: pd.Series, table: str) -> PromiseInputError:
    names = [str(value) for value in known]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return PromiseInputError(f"unknown {kind} {name!r}: {table} has no such {kind}{hint}")


def _check_numbers(request: PromiseRequest, periods: int) -> None:
    """Every number of the request in the range the orders table allows."""
    if not isinstance(request.racks, int | np.integer) or not 1 <= request.racks <= MAX_RACKS:
        raise PromiseInputError(f"racks must be a whole number from 1 to {MAX_RACKS:,}")
    if not 1 <= request.period <= periods:
        raise PromiseInputError(
            f"period {request.period} is outside the plan's horizon: periods 1..{periods}"
        )
    if not 0 <= request.max_delay <= MAX_PERIODS:
        raise PromiseInputError(f"max delay must be a whole number from 0 to {MAX_PERIODS}")
    for option, value in (("price", request.price), ("delay penalty", request.delay_penalty)):
        if value is not None and not (math.isfinite(value) and 0 <= value <= MAX_MONEY):
            raise PromiseInputError(f"{option} must be a finite amount from 0 to {MAX_MONEY:g}")


def default_price(instance: Instance, customer: str, product: str) -> tuple[float, str] | None:
    """The customer's highest ``price_per_rack`` for ``product`` (its orders for it, and
    its ``substitutes.csv`` rows for it) and the order it comes from; None without one."""
    options = instance.ship_options
    order_rows = options["order_row"].to_numpy()
    customers = instance.orders["customer"].to_numpy()[order_rows]
    mine = options[(customers == customer) & (options["product"] == product).to_numpy()]
    if mine.empty:
        return None
    best = mine.sort_values(["price_per_rack", "order"], ascending=[False, True]).iloc[0]
    return float(best["price_per_rack"]), str(best["order"])


def new_order_id(instance: Instance) -> str:
    """``promise-1``, or the first ``promise-K`` the instance does not use."""
    taken = set(instance.orders["order"])
    number = 1
    while f"{ORDER_PREFIX}{number}" in taken:
        number += 1
    return f"{ORDER_PREFIX}{number}"


def _margin_per_rack(instance: Instance, customer: str, product: str) -> float:
    """m(c, p) = sum_s attach(c, s) * margin(s, p)."""
    attach = instance.attach[instance.attach["customer"] == customer]
    services = instance.services[instance.services["product"] == product]
    merged = attach.merge(services, on="service")
    return float((merged["attach_rate"] * merged["margin_per_rack"]).sum())


def new_order(instance: Instance, request: PromiseRequest) -> NewOrder:
    """The request checked against ``instance`` and completed with the contract's
    defaults; raises `PromiseInputError` with one clear message."""
    customers = instance.customers.set_index("customer")
    if request.customer not in customers.index:
        raise _unknown(
            "customer", request.customer, instance.customers["customer"], "customers.csv"
        )
    products = instance.products.set_index("product")
    if request.product not in products.index:
        raise _unknown("product", request.product, instance.products["product"], "products.csv")
    _check_numbers(request, instance.periods)
    if request.price is not None:
        price, source = float(request.price), "given"
    else:
        found = default_price(instance, request.customer, request.product)
        if found is None:
            raise PromiseInputError(
                f"{request.customer} has no order for {request.product}, so it has no price "
                "per rack to default to: give one with --price"
            )
        price, source = found[0], f"highest price of {request.customer} for {request.product}"
        source += f" ({found[1]})"
    row = table_row(instance.customers, "customer", request.customer)
    available_from = int(table_row(instance.products, "product", request.product)["available_from"])
    return NewOrder(
        order=new_order_id(instance),
        customer=request.customer,
        segment=str(row["segment"]),
        region=str(row["region"]),
        product=request.product,
        racks=int(request.racks),
        period=int(request.period),
        max_delay=int(request.max_delay),
        price_per_rack=price,
        price_source=source,
        delay_penalty=float(request.delay_penalty),
        margin_per_rack=_margin_per_rack(instance, request.customer, request.product),
        first_ship=max(int(request.period), available_from),
        last_ship=min(int(request.period) + int(request.max_delay), instance.periods),
    )


def with_order(instance: Instance, order: NewOrder) -> Instance:
    """A copy of ``instance`` with the new order added as the last row of ``orders.csv``
    (no substitutes for it); every derived set is rebuilt. ``instance`` is not changed."""
    tables = base_tables(instance)
    orders = tables["orders"]
    added = pd.DataFrame([order.order_row()]).astype(orders.dtypes.to_dict())
    tables["orders"] = pd.concat([orders, added], ignore_index=True)
    return build_instance(instance.settings, tables)
