"""Greedy fill: add racks to a feasible plan, most valuable first, within every constraint.

The anytime plan of a time-limited solve: `greedy_fill` takes a feasible integer plan (the
LP relaxation rounded down and repaired by `allocator.plan.repair.round_plan`, or the
empty plan) and ships the stock and surplus it leaves unused, one order and period at a
time in order of what a rack adds to the objective:

* from stock: `Instance.rack_value` plus the holding cost it saves, h(p) * (T - t + 1),
  with the stock left at t and every later period as the limit;
* from a surplus rack made in t' <= t (the cheapest where capacity and wafers are left):
  the rack value less surplus_cost[p,t'] and the holding cost of t' .. t - 1;
* an internal customer short of its committed fill gains the shortfall penalty per rack
  as well, until it is no longer short;
* within the order's quantity, the region's cumulative power at every later
  ``regions.csv`` row, and the third-party share cap; a third party not yet shipping is
  added as a block of at least its minimum contract, only when the block is worth more
  than its onboarding cost (else undone).

Values are recomputed when an entry comes off the queue (lazy priority queue), so a rack
is only added while it adds value. The result passes `allocator.plan.check.check_plan`
(outside strict mode) whenever the input did; only the orders' own products are added.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.plan.tables import Plan, committed_racks, empty_plan, make_plan

EPSILON = 1e-9
STOCK, SURPLUS = 0, 1
"""How a queued rack is supplied."""


@dataclass
class _Orders:
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
class _State:
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

    def ship(self, order: int, orders: _Orders, period: int, racks: int, made: int) -> None:
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

    def undo(self, orders: _Orders, mark: int) -> None:
        """Take back every `ship` since the log had ``mark`` entries."""
        while len(self.log) > mark:
            order, period, racks, made = self.log.pop()
            self.ship(order, orders, period, -racks, made)
            self.log.pop()


def greedy_fill(instance: Instance, plan: Plan) -> Plan:
    """``plan`` with racks added, most valuable first, wherever every constraint still
    holds (see the module docstring); ``plan`` must be feasible and integral."""
    orders = _orders(instance, plan)
    state = _state(instance, plan)
    filler = _Filler(state, orders)
    table = instance.customers
    shipping = plan.allocation.groupby("customer")["racks"].sum()
    accepted = plan.deal_accepted
    blocks: dict[int, list[int]] = defaultdict(list)
    for order, customer in enumerate(orders.customer):
        blocks[customer].append(order)
    open_orders: list[int] = []
    for customer, (name, segment, onboarding, minimum) in enumerate(
        zip(
            table["customer"],
            table["segment"],
            table["onboarding_cost"].astype(float),
            table["min_contract_racks"].astype(int),
            strict=True,
        )
    ):
        members = blocks.pop(customer, [])
        closed = (
            segment == "third_party"
            and shipping.get(name, 0) <= 0
            and accepted.get(name, 0.0) < 0.5
            and (onboarding > 0 or minimum > 1)
        )
        if closed:  # a deal not yet accepted: added whole or not at all
            filler.push_block(customer, members, max(1, minimum), onboarding)
        else:
            open_orders += members
    filler.push_orders(open_orders)
    filler.run()
    return _plan(instance, plan, orders, state)


def greedy_plan(instance: Instance) -> Plan:
    """A plan from nothing: `greedy_fill` of the empty plan."""
    return greedy_fill(instance, empty_plan(instance))


RACK, BLOCK = 0, 1
"""Queue entries: racks of an order in a period, or a third party's deal as a block."""


class _Filler:
    """The lazy priority queue of `greedy_fill`."""

    def __init__(self, state: _State, orders: _Orders) -> None:
        self.state = state
        self.orders = orders
        self.queue: list[tuple[float, int, int, int, int]] = []
        self.deferred: list[tuple[float, int, int, int, int]] = []
        """Third-party racks waiting for room under the share cap."""
        self.blocks: dict[int, tuple[list[int], int, float]] = {}

    def push_orders(self, members: list[int], queue: list | None = None) -> None:
        queue = self.queue if queue is None else queue
        orders = self.orders
        for order in members:
            if orders.remaining[order] <= 0:
                continue
            for period in range(orders.first[order], orders.last[order] + 1):
                value = _value(self.state, orders, order, period, STOCK)
                if value > EPSILON:
                    heapq.heappush(queue, (-value, RACK, order, period, STOCK))

    def push_block(self, customer: int, members: list[int], minimum: int, cost: float) -> None:
        """Queue a third party's deal at its estimated value per rack: its ``minimum``
        most valuable racks less the onboarding ``cost``, per rack."""
        orders = self.orders
        best = sorted(
            (
                (float(orders.value[o].max()), orders.remaining[o])
                for o in members
                if orders.value[o].size and orders.remaining[o] > 0
            ),
            reverse=True,
        )
        total, racks = 0.0, 0
        for value, count in best:
            if value <= 0:
                break
            take = count if racks >= minimum else min(count, minimum - racks)
            if racks >= minimum:  # past the minimum: only as many as onboarding needs
                take = min(count, math.ceil((cost - total) / value + EPSILON))
            total += value * take
            racks += take
            if racks >= minimum and total > cost:
                break
        if racks < minimum or total <= cost:
            return
        self.blocks[customer] = (members, minimum, cost)
        heapq.heappush(self.queue, (-(total - cost) / racks, BLOCK, customer, 0, 0))

    def run(self) -> None:
        while self.queue:
            negative, kind, first, second, source = heapq.heappop(self.queue)
            if kind == BLOCK:
                self._block(first)
            else:
                self._rack(self.queue, -negative, first, second, source, math.inf)

    def _block(self, customer: int) -> None:
        """Add the deal's most valuable racks up to its minimum, and more while they do
        not yet pay its onboarding; keep them (and queue the rest of its racks) when they
        are worth more than onboarding, else undo."""
        members, minimum, cost = self.blocks[customer]
        mark = len(self.state.log)
        queue: list[tuple[float, int, int, int, int]] = []
        self.push_orders(members, queue)
        gain, shipped = 0.0, 0
        while queue and (shipped < minimum or gain <= cost + EPSILON):
            negative, _, order, period, source = heapq.heappop(queue)
            most = minimum - shipped if shipped < minimum else math.inf
            value, racks = self._rack(queue, -negative, order, period, source, most)
            gain += value * racks
            shipped += racks
        if shipped < minimum or gain <= cost + EPSILON:
            self.state.undo(self.orders, mark)
            return
        self.push_orders(members)

    def _rack(
        self,
        queue: list[tuple[float, int, int, int, int]],
        popped: float,
        order: int,
        period: int,
        source: int,
        most: float,
    ) -> tuple[float, int]:
        """Ship what can be of ``order`` in ``period`` (at most ``most`` racks) when still
        worth its queued value, else re-queue it; (value per rack, racks shipped)."""
        state, orders = self.state, self.orders
        if orders.remaining[order] <= 0:
            return 0.0, 0
        value = _value(state, orders, order, period, source)
        if value <= EPSILON:
            return 0.0, 0
        if value < popped - EPSILON * max(1.0, abs(value)):
            heapq.heappush(queue, (-value, RACK, order, period, source))  # worth less now
            return 0.0, 0
        third_party = orders.third_party[order]
        limit = min(
            most,
            orders.remaining[order],
            state.power_room(orders.region[order], period, orders.kw[order]),
        )
        if third_party:
            room = state.share_room()
            if room <= 0 and queue is self.queue and state.share > 0:
                heapq.heappush(self.deferred, (-value, RACK, order, period, source))
                return 0.0, 0
            limit = min(limit, room)
        elif self.deferred and -self.deferred[0][0] > value and queue is self.queue:
            limit = min(limit, self._racks_for_room())  # let the more valuable deferred racks in
        short = state.short[orders.customer[order]]
        if short > EPSILON:  # the penalty counts only while short
            limit = min(limit, max(1, math.floor(short)))
        if source == STOCK:
            supply, made = state.stock_room(orders.product[order], period), 0
        else:
            _, made, supply = state.surplus_option(orders.product[order], period)
        racks = int(min(limit, supply))
        if racks <= 0:
            if source == STOCK and limit > 0:  # out of stock: a surplus rack may pay
                value = _value(state, orders, order, period, SURPLUS)
                if value > EPSILON:
                    heapq.heappush(queue, (-value, RACK, order, period, SURPLUS))
            return 0.0, 0
        state.ship(order, orders, period, racks, made)
        if orders.remaining[order] > 0:
            heapq.heappush(queue, (-value, RACK, order, period, source))
        if not third_party and self.deferred and state.share_room() > 0:
            for entry in self.deferred:
                heapq.heappush(self.queue, entry)
            self.deferred = []
        return value, racks

    def _racks_for_room(self) -> int:
        """Racks of other segments that make room under the share cap for the remaining
        racks of the most valuable deferred third-party entry."""
        state = self.state
        wanted = self.orders.remaining[self.deferred[0][2]]
        share = state.share
        needed = (
            wanted * (1.0 - share) + state.third_party_racks - share * state.all_racks
        ) / share
        return max(1, math.ceil(needed - EPSILON))


def _value(state: _State, orders: _Orders, order: int, period: int, source: int) -> float:
    """What one more rack of ``order`` shipped in ``period`` adds to the objective."""
    product = orders.product[order]
    value = float(orders.value[order][period - orders.first[order]])
    if source == STOCK:
        value += state.holding[product] * (state.periods - period + 1)
    else:
        cost, _, room = state.surplus_option(product, period)
        if room <= 0:
            return -math.inf
        value -= cost
    short = state.short[orders.customer[order]]
    if short > EPSILON:
        value += state.penalty * min(1.0, short)
    return value


def _orders(instance: Instance, plan: Plan) -> _Orders:
    orders = instance.orders
    product_of = {name: i for i, name in enumerate(instance.products["product"])}
    customer_of = {name: i for i, name in enumerate(instance.customers["customer"])}
    kw = instance.products.set_index("product")["power_kw"].astype(float)
    shipped = plan.allocation.groupby("order")["racks"].sum()
    remaining = orders["racks"] - shipped.reindex(orders["order"], fill_value=0).to_numpy()
    first = orders["first_ship"].to_numpy(dtype=np.int64)
    last = orders["last_ship"].to_numpy(dtype=np.int64)
    length = np.maximum(last - first + 1, 0)
    rows = np.repeat(np.arange(len(orders)), length)
    periods = np.repeat(first, length) + (
        np.arange(len(rows)) - np.repeat(np.cumsum(length) - length, length)
    )
    values = instance.rack_value(rows, periods) if len(rows) else np.zeros(0)
    return _Orders(
        product=[product_of[p] for p in orders["product"]],
        customer=[customer_of[c] for c in orders["customer"]],
        region=orders["region"].astype(str).tolist(),
        third_party=(orders["segment"] == "third_party").tolist(),
        kw=orders["product"].map(kw).tolist(),
        remaining=[max(0, int(r)) for r in remaining],
        first=first.tolist(),
        last=last.tolist(),
        value=np.split(values, np.cumsum(length)[:-1]) if len(orders) else [],
    )


def _state(instance: Instance, plan: Plan) -> _State:
    products = instance.products.set_index("product")
    names = list(products.index)
    periods = instance.periods
    supply = instance.supply.set_index(["product", "period"])
    made = plan.surplus.groupby(["product", "period"])["racks"].sum()
    wafers = products["wafers_per_rack"].astype(float)
    allocation = plan.allocation
    shipped = allocation.groupby(["product", "ship_period"])["racks"].sum()
    stock: list[list[float]] = []
    room: list[list[int]] = []
    cost: list[list[float]] = []
    used_wafers = np.zeros(periods)
    for name in names:
        level = float(products.at[name, "initial_inventory"])
        levels, rooms, costs = [], [], []
        for period in range(1, periods + 1):
            row = supply.loc[(name, period)]
            made_here = int(made.get((name, period), 0))
            level += float(row["base_racks"]) + made_here - float(shipped.get((name, period), 0))
            levels.append(level)
            usable = period >= products.at[name, "available_from"]
            rooms.append(int(row["surplus_max_racks"]) - made_here if usable else 0)
            costs.append(float(row["surplus_cost"]))
            used_wafers[period - 1] += made_here * float(wafers[name])
        stock.append(levels)
        room.append(rooms)
        cost.append(costs)
    kw = allocation["product"].map(products["power_kw"]).astype(float) * allocation["racks"]
    region = allocation["order"].map(instance.orders.set_index("order")["region"])
    delivered = kw.groupby([region, allocation["ship_period"]]).sum()
    power: dict[str, list[tuple[int, float]]] = {}
    limits = instance.regions.sort_values(["region", "period"], kind="stable")
    for name, rows in limits.groupby("region", sort=False):
        used = delivered[name] if name in delivered.index.get_level_values(0) else pd.Series()
        power[str(name)] = [
            (int(period), float(limit) - float(used[used.index <= period].sum()))
            for period, limit in zip(rows["period"], rows["power_kw"], strict=True)
        ]
    third_party = allocation.loc[allocation["segment"] == "third_party", "racks"].sum()
    committed = committed_racks(instance)
    by_customer = allocation.groupby("customer")["racks"].sum()
    short = committed - by_customer.reindex(committed.index, fill_value=0)
    return _State(
        periods=periods,
        stock=stock,
        holding=[float(products.at[name, "holding_cost"]) for name in names],
        surplus_room=room,
        surplus_cost=cost,
        wafers_per_rack=[float(wafers[name]) for name in names],
        wafers_left=(instance.surplus_wafers.to_numpy(dtype=float) - used_wafers).tolist(),
        power=power,
        share=float(instance.policy.third_party_max_share),
        third_party_racks=float(third_party),
        all_racks=float(allocation["racks"].sum()),
        short=[float(s) for s in short.reindex(instance.customers["customer"]).to_numpy()],
        penalty=float(instance.policy.internal_shortfall_penalty),
    )


def _plan(instance: Instance, plan: Plan, orders: _Orders, state: _State) -> Plan:
    """``plan`` plus the racks and surplus ``state`` added."""
    names = list(instance.products["product"])
    order_ids = instance.orders["order"].tolist()
    added = [
        (order_ids[o], names[orders.product[o]], t, r) for (o, t), r in state.added.items() if r > 0
    ]
    ship = pd.concat(
        [
            plan.allocation[["order", "product", "ship_period", "racks"]],
            pd.DataFrame(added, columns=["order", "product", "ship_period", "racks"]),
        ],
        ignore_index=True,
    )
    ship = ship.groupby(["order", "product", "ship_period"], as_index=False)["racks"].sum()
    made = [(names[p], t, r) for (p, t), r in state.made.items() if r > 0]
    surplus = pd.concat(
        [
            plan.surplus[["product", "period", "racks"]],
            pd.DataFrame(made, columns=["product", "period", "racks"]),
        ],
        ignore_index=True,
    )
    surplus = surplus.groupby(["product", "period"], as_index=False)["racks"].sum()
    ship = ship.astype({"ship_period": "int64", "racks": "int64"})
    surplus = surplus.astype({"period": "int64", "racks": "int64"})
    customer = ship["order"].map(instance.orders.set_index("order")["customer"])
    shipping = ship.groupby(customer)["racks"].sum()
    accepted = (plan.deal_accepted > 0.5) | (
        shipping.reindex(plan.deal_accepted.index, fill_value=0) > 0
    )
    return make_plan(instance, ship, surplus, accepted.astype(float))
