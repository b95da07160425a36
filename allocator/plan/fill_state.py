"""What a plan being filled uses and leaves: stock, surplus, wafers, power, the share cap.

The state of `allocator.plan.fill.greedy_fill` as plain Python lists (read in its inner
loop, where NumPy scalars would cost more than they save), built from a plan and the
instance, changed one shipment at a time (`FillState.ship`, undone by `FillState.undo`),
and turned back into a `Plan` (`with_additions`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.plan.tables import Plan, committed_racks, make_plan

EPSILON = 1e-9


@dataclass
class OrderLists:
    """The orders as plain lists, by order row."""

    product: list[int]
    customer: list[int]
    region: list[str]
    third_party: list[bool]
    kw: list[float]
    remaining: list[int]
    first: list[int]
    last: list[int]
    value: list[np.ndarray]
    """Per order, the rack value of each ship period first..last."""


@dataclass
class FillState:
    """What the plan uses so far, and what every constraint leaves."""

    periods: int
    stock: list[list[float]]
    """Per product, the end-of-period stock of periods 1..T (index t - 1)."""
    holding: list[float]
    surplus_room: list[list[int]]
    surplus_cost: list[list[float]]
    wafers_per_rack: list[float]
    wafers_left: list[float]
    power: dict[str, list[tuple[int, float]]]
    """Per region, its regions.csv rows (period, kW left) in period order."""
    share: float
    third_party_racks: float
    all_racks: float
    short: list[float]
    """Per customer, racks short of its committed fill (0 for third parties)."""
    penalty: float
    added: dict[tuple[int, int], int] = field(default_factory=lambda: defaultdict(int))
    made: dict[tuple[int, int], int] = field(default_factory=lambda: defaultdict(int))
    log: list[tuple[int, int, int, int]] = field(default_factory=list)
    """Every `ship` call (order, period, racks, made), so that a block can be undone."""

    def stock_room(self, product: int, period: int) -> int:
        return max(0, math.floor(min(self.stock[product][period - 1 :]) + EPSILON))

    def power_room(self, region: str, period: int, kw: float) -> float:
        if kw <= 0 or region not in self.power:
            return math.inf
        rooms = [left for row_period, left in self.power[region] if row_period >= period]
        return math.floor(min(rooms) / kw + EPSILON) if rooms else math.inf

    def share_room(self) -> float:
        if self.share >= 1.0:
            return math.inf
        room = (self.share * self.all_racks - self.third_party_racks) / (1.0 - self.share)
        return max(0, math.floor(room + EPSILON))

    def surplus_option(self, product: int, period: int) -> tuple[float, int, int]:
        """(cost per rack, period made, racks makeable) of the cheapest surplus period
        t' <= ``period`` with room left; racks 0 when none."""
        best = (math.inf, 0, 0)
        holding = self.holding[product]
        wafers = self.wafers_per_rack[product]
        for made in range(1, period + 1):
            room = self.surplus_room[product][made - 1]
            if room <= 0:
                continue
            if wafers > 0:
                room = min(room, math.floor(self.wafers_left[made - 1] / wafers + EPSILON))
            if room <= 0:
                continue
            cost = self.surplus_cost[product][made - 1] + holding * (period - made)
            if cost < best[0]:
                best = (cost, made, room)
        return best

    def ship(self, order: int, orders: OrderLists, period: int, racks: int, made: int) -> None:
        """Ship ``racks`` of ``order`` in ``period`` (from a surplus made in ``made``, or
        from stock when ``made`` is 0); negative racks undo it."""
        product = orders.product[order]
        stock = self.stock[product]
        if made:
            self.surplus_room[product][made - 1] -= racks
            self.wafers_left[made - 1] -= racks * self.wafers_per_rack[product]
            self.made[(product, made)] += racks
            for t in range(made - 1, period - 1):
                stock[t] += racks
        else:
            for t in range(period - 1, self.periods):
                stock[t] -= racks
        kw = orders.kw[order]
        rows = self.power.get(orders.region[order])
        if rows and kw > 0:
            self.power[orders.region[order]] = [
                (t, left - racks * kw if t >= period else left) for t, left in rows
            ]
        orders.remaining[order] -= racks
        if orders.third_party[order]:
            self.third_party_racks += racks
        self.all_racks += racks
        self.short[orders.customer[order]] -= racks
        self.added[(order, period)] += racks
        self.log.append((order, period, racks, made))

    def undo(self, orders: OrderLists, mark: int) -> None:
        """Take back every `ship` since the log had ``mark`` entries."""
        while len(self.log) > mark:
            order, period, racks, made = self.log.pop()
            self.ship(order, orders, period, -racks, made)
            self.log.pop()


def order_lists(instance: Instance, plan: Plan) -> OrderLists:
    """The orders, what ``plan`` leaves of each, and the value of a rack of each in every
    period of its window."""
    orders = instance.orders
    product_of = {name: i for i, name in enumerate(instance.products["product"])}
    customer_of = {name: i for i, name in enumerate(instance.customers["customer"])}
    kw = instance.products.set_index("product")["power_kw"].astype(float)
    shipped = plan.allocation.groupby("order")["racks"].sum()
    remaining = orders["racks"].to_numpy() - shipped.reindex(orders["order"], fill_value=0)
    first = orders["first_ship"].to_numpy(dtype=np.int64)
    last = orders["last_ship"].to_numpy(dtype=np.int64)
    length = np.maximum(last - first + 1, 0)
    offsets = np.cumsum(length) - length
    rows = np.repeat(np.arange(len(orders)), length)
    periods = np.repeat(first, length) + np.arange(len(rows)) - np.repeat(offsets, length)
    values = instance.rack_value(rows, periods) if len(rows) else np.zeros(0)
    return OrderLists(
        product=[product_of[p] for p in orders["product"]],
        customer=[customer_of[c] for c in orders["customer"]],
        region=orders["region"].astype(str).tolist(),
        third_party=(orders["segment"] == "third_party").tolist(),
        kw=orders["product"].map(kw).tolist(),
        remaining=np.maximum(remaining.to_numpy(), 0).astype(int).tolist(),
        first=first.tolist(),
        last=last.tolist(),
        value=np.split(values, np.cumsum(length)[:-1]) if len(orders) else [],
    )


def _grid(
    frame: pd.DataFrame, rows: str, columns: str, values: str, index: list, periods: int
) -> np.ndarray:
    """``values`` summed into a (len(index), periods) array by ``rows`` x ``columns``."""
    table = frame.pivot_table(index=rows, columns=columns, values=values, aggfunc="sum")
    table = table.reindex(index=index, columns=range(1, periods + 1), fill_value=0)
    return table.fillna(0).to_numpy(dtype=float)


def fill_state(instance: Instance, plan: Plan) -> FillState:
    """What ``plan`` uses and what every constraint leaves (``plan`` is feasible)."""
    products = instance.products.set_index("product")
    names = list(products.index)
    periods = instance.periods
    supply, allocation = instance.supply, plan.allocation

    def grid(frame: pd.DataFrame, rows: str, columns: str, values: str) -> np.ndarray:
        return _grid(frame, rows, columns, values, names, periods)

    made = grid(plan.surplus, "product", "period", "racks")
    shipped = grid(allocation, "product", "ship_period", "racks")
    base = grid(supply, "product", "period", "base_racks")
    initial = products["initial_inventory"].to_numpy(dtype=float)
    stock = initial[:, None] + np.cumsum(base + made - shipped, axis=1)
    usable = np.arange(1, periods + 1)[None, :] >= products["available_from"].to_numpy()[:, None]
    room = np.where(usable, grid(supply, "product", "period", "surplus_max_racks") - made, 0)
    wafers = products["wafers_per_rack"].to_numpy(dtype=float)
    wafers_left = instance.surplus_wafers.to_numpy(dtype=float) - (made * wafers[:, None]).sum(0)
    regions = sorted(set(instance.regions["region"]))
    kw = allocation.assign(
        kw=allocation["product"].map(products["power_kw"]).astype(float) * allocation["racks"],
        region=allocation["order"].map(instance.orders.set_index("order")["region"]),
    )
    used = np.cumsum(_grid(kw, "region", "ship_period", "kw", regions, periods), axis=1)
    power: dict[str, list[tuple[int, float]]] = defaultdict(list)
    limits = instance.regions.sort_values(["region", "period"], kind="stable")
    row_of = {name: i for i, name in enumerate(regions)}
    for name, period, limit in zip(
        limits["region"], limits["period"], limits["power_kw"], strict=True
    ):
        power[str(name)].append((int(period), float(limit) - used[row_of[name], int(period) - 1]))
    committed = committed_racks(instance)
    by_customer = allocation.groupby("customer")["racks"].sum()
    short = committed - by_customer.reindex(committed.index, fill_value=0)
    return FillState(
        periods=periods,
        stock=stock.tolist(),
        holding=products["holding_cost"].astype(float).tolist(),
        surplus_room=room.astype(int).tolist(),
        surplus_cost=grid(supply, "product", "period", "surplus_cost").tolist(),
        wafers_per_rack=wafers.tolist(),
        wafers_left=wafers_left.tolist(),
        power=dict(power),
        share=float(instance.policy.third_party_max_share),
        third_party_racks=float(
            allocation.loc[allocation["segment"] == "third_party", "racks"].sum()
        ),
        all_racks=float(allocation["racks"].sum()),
        short=short.reindex(instance.customers["customer"]).astype(float).tolist(),
        penalty=float(instance.policy.internal_shortfall_penalty),
    )


def with_additions(instance: Instance, plan: Plan, orders: OrderLists, state: FillState) -> Plan:
    """``plan`` plus the racks and surplus ``state`` added (orders' own products)."""
    names = list(instance.products["product"])
    order_ids = instance.orders["order"].tolist()
    columns = ["order", "product", "ship_period", "racks"]
    added = pd.DataFrame(
        [
            (order_ids[o], names[orders.product[o]], t, r)
            for (o, t), r in state.added.items()
            if r > 0
        ],
        columns=columns,
    )
    ship = pd.concat([plan.allocation[columns], added], ignore_index=True)
    ship = ship.groupby(columns[:3], as_index=False).agg(racks=("racks", "sum"))
    made = pd.DataFrame(
        [(names[p], t, r) for (p, t), r in state.made.items() if r > 0],
        columns=["product", "period", "racks"],
    )
    surplus = pd.concat([plan.surplus[["product", "period", "racks"]], made], ignore_index=True)
    surplus = surplus.groupby(["product", "period"], as_index=False).agg(racks=("racks", "sum"))
    ship = ship.astype({"ship_period": "int64", "racks": "int64"})
    surplus = surplus.astype({"period": "int64", "racks": "int64"})
    customer = ship["order"].map(instance.orders.set_index("order")["customer"])
    shipping = ship.groupby(customer)["racks"].sum()
    accepted = plan.deal_accepted > 0.5
    accepted |= shipping.reindex(accepted.index, fill_value=0) > 0
    return make_plan(instance, ship, surplus, accepted.astype(float))
