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
  than its onboarding cost (else undone), queued at its racks' value per rack (holding
  saved included) less onboarding;
* a third-party rack or deal the share cap has no room for waits, in value order, for
  the internal racks shipped after it to make room (the internal racks are then
  shipped only as far as needed for it), and less valuable third-party racks wait
  behind it.

`greedy_plan` (from nothing) fills twice when the first pass left an order worth shipping
without power in its region: the second pass queues that region's racks at their value
less the power they draw, priced at the most a kW was worth to such an order
(`_power_prices`), and the better plan is kept. On a generated 197k-column instance
(``--regions 100 --buyers 900 --periods 96 --seed 7``, LP bound 1.25771e13) the plan
from nothing is 0.20% below the LP bound (7.2 s for both passes; the first pass alone
1.08%, its internal customers short by 9,024 racks in four regions out of power, where
the LP covers them with the product that draws less); before deals were queued at their
whole value and waited for room, 786 of 900 deals were left out and the plan was 9.4%
below.

Values are recomputed when an entry comes off the queue (lazy priority queue), so a rack
is only added while it adds value. The result passes `allocator.plan.check.check_plan`
(outside strict mode) whenever the input did; only the orders' own products are added.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping

from allocator.data.instance import Instance
from allocator.plan.fill_state import (
    EPSILON,
    FillState,
    OrderLists,
    fill_state,
    order_lists,
    with_additions,
)
from allocator.plan.tables import Plan, empty_plan, objective_terms

STOCK, SURPLUS = 0, 1
"""How a queued rack is supplied."""


class Stopped(Exception):
    """`greedy_fill` was told to stop (its ``stop`` returned True)."""


def greedy_fill(
    instance: Instance,
    plan: Plan,
    stop: Callable[[], bool] | None = None,
    power_prices: Mapping[str, float] | None = None,
) -> Plan:
    """``plan`` with racks added, most valuable first, wherever every constraint still
    holds (see the module docstring); ``plan`` must be feasible and integral. ``stop``
    is asked now and then; when it returns True, `Stopped` is raised. ``power_prices``
    (per region, per kW) orders a region's racks by their value less the power they
    draw at that price; a rack is still added whenever its own value is positive."""
    return _fill(instance, plan, stop, power_prices or {})[0]


def greedy_plans(instance: Instance, stop: Callable[[], bool] | None = None) -> Iterator[Plan]:
    """Plans from nothing, as they come: `greedy_fill` of the empty plan; then, where
    that left an order worth shipping without power in its region, the same with those
    regions' power priced (`_power_prices`)."""
    empty = empty_plan(instance)
    plan, state, orders = _fill(instance, empty, stop, {})
    yield plan
    prices = _power_prices(state, orders)
    if prices:
        yield _fill(instance, empty, stop, prices)[0]


def greedy_plan(instance: Instance, stop: Callable[[], bool] | None = None) -> Plan:
    """The better of the `greedy_plans`."""
    return max(
        greedy_plans(instance, stop), key=lambda plan: sum(objective_terms(instance, plan).values())
    )


def _fill(
    instance: Instance,
    plan: Plan,
    stop: Callable[[], bool] | None,
    power_prices: Mapping[str, float],
) -> tuple[Plan, FillState, OrderLists]:
    """`greedy_fill`, with what the filled plan uses and leaves (for `_power_prices`)."""
    orders = order_lists(instance, plan)
    state = fill_state(instance, plan)
    filler = _Filler(state, orders, stop, power_prices)
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
    return with_additions(instance, plan, orders, state), state, orders


def _power_prices(state: FillState, orders: OrderLists) -> dict[str, float]:
    """Per region whose power ran out before an order still worth shipping there: the
    most a kW was worth to such an order (its best value per rack over its window,
    shortfall penalty included while its customer is short, per kW). Ordering that
    region's racks by value less power at this price puts the racks that pay most per
    kW first, as the LP relaxation's power duals do; an internal customer short of its
    fill then covers it with the product that draws least."""
    # per region and period, the kW left at that period and every later row
    left: dict[str, list[float]] = {}
    for region, rows in state.power.items():
        room = [math.inf] * (state.periods + 2)
        for row_period, kw_left in rows:
            room[row_period] = min(room[row_period], kw_left)
        for period in range(state.periods, 0, -1):
            room[period] = min(room[period], room[period + 1])
        left[region] = room
    prices: dict[str, float] = {}
    for order, region in enumerate(orders.region):
        kw = orders.kw[order]
        suffix = left.get(region)
        if suffix is None or kw <= 0 or orders.remaining[order] <= 0:
            continue
        window = range(orders.first[order], orders.last[order] + 1)
        if not window or any(suffix[period] >= kw - EPSILON for period in window):
            continue  # power is not what stops it
        value = max(_value(state, orders, order, period, STOCK) for period in window)
        if value > EPSILON:
            prices[region] = max(prices.get(region, 0.0), value / kw)
    return prices


RACK, BLOCK = 0, 1
"""Queue entries: racks of an order in a period, or a third party's deal as a block."""


class _Filler:
    """The lazy priority queue of `greedy_fill`."""

    def __init__(
        self,
        state: FillState,
        orders: OrderLists,
        stop: Callable[[], bool] | None,
        power_prices: Mapping[str, float],
    ) -> None:
        self.stop = stop
        self.power_prices = power_prices
        self.state = state
        self.orders = orders
        self.queue: list[tuple[float, int, int, int, int]] = []
        self.deferred: list[tuple[float, int, int, int, int]] = []
        """Third-party racks waiting for room under the share cap."""
        self.blocks: dict[int, tuple[list[int], int, float]] = {}

    def _key(self, order: int, value: float) -> float:
        """Where a rack of ``order`` worth ``value`` goes in the queue: its value less
        the power it draws at its region's price."""
        price = self.power_prices.get(self.orders.region[order], 0.0)
        return value - price * self.orders.kw[order] if price else value

    def _best_from_stock(self, order: int) -> tuple[float, float]:
        """(queue key, value) of a rack of ``order`` from stock in its best period."""
        orders, state = self.orders, self.state
        values = (
            _value(state, orders, order, period, STOCK)
            for period in range(orders.first[order], orders.last[order] + 1)
        )
        return max((self._key(order, value), value) for value in values)

    def push_orders(self, members: list[int], queue: list | None = None) -> None:
        queue = self.queue if queue is None else queue
        orders = self.orders
        for order in members:
            if orders.remaining[order] <= 0:
                continue
            for period in range(orders.first[order], orders.last[order] + 1):
                value = _value(self.state, orders, order, period, STOCK)
                if value > EPSILON:
                    heapq.heappush(queue, (-self._key(order, value), RACK, order, period, STOCK))

    def push_block(self, customer: int, members: list[int], minimum: int, cost: float) -> None:
        """Queue a third party's deal at its estimated value per rack: its ``minimum``
        most valuable racks, each valued as `_value` values a rack from stock (the
        holding cost it saves included, as for every other rack), less the onboarding
        ``cost``, per rack (queued less the power they draw at its price, `_key`)."""
        orders = self.orders
        best = sorted(
            (*self._best_from_stock(order), orders.remaining[order])
            for order in members
            if orders.value[order].size and orders.remaining[order] > 0
        )[::-1]
        total, total_key, racks = 0.0, 0.0, 0
        for key, value, count in best:
            if value <= 0:
                continue
            wanted = max(minimum - racks, math.floor((cost - total) / value) + 1, 0)
            take = min(count, wanted)
            total += value * take
            total_key += key * take
            racks += take
            if racks >= minimum and total > cost:
                break
        if racks < minimum or total <= cost:
            return
        self.blocks[customer] = (members, minimum, cost)
        heapq.heappush(self.queue, (-(total_key - cost) / racks, BLOCK, customer, 0, 0))

    def run(self) -> None:
        """Empty the queue. Third-party racks and deals that the share cap has no room
        for wait (``deferred``, in value order) and come back, most valuable first, once
        the internal racks shipped since have made room for them; a less valuable
        third-party rack waits behind them. One the queue can no longer make room for
        is dropped."""
        steps = 0
        while self.queue or self.deferred:
            steps += 1
            if self.stop is not None and steps % 1024 == 0 and self.stop():
                raise Stopped
            if self.deferred and (not self.queue or self.deferred[0] <= self.queue[0]):
                if self.state.share_room() >= self._room_wanted(self.deferred[0]):
                    entry = heapq.heappop(self.deferred)
                elif self.queue:
                    entry = heapq.heappop(self.queue)
                else:  # nothing left that could make room for it
                    heapq.heappop(self.deferred)
                    continue
            else:
                entry = heapq.heappop(self.queue)
            negative, kind, first, second, source = entry
            if kind == BLOCK:
                self._block(first, negative)
            else:
                self._rack(self.queue, -negative, first, second, source, math.inf)

    def _room_wanted(self, entry: tuple[float, int, int, int, int]) -> int:
        """Room under the share cap a waiting entry needs: a deal its minimum, a rack 1."""
        _, kind, first, _, _ = entry
        return self.blocks[first][1] if kind == BLOCK else 1

    def _block(self, customer: int, negative: float) -> None:
        """Add the deal's most valuable racks up to its minimum, and more while they do
        not yet pay its onboarding; keep them (and queue the rest of its racks) when they
        are worth more than onboarding, else undo. A deal the share cap has no room for
        yet waits (``deferred``, at its queued value ``-negative``)."""
        members, minimum, cost = self.blocks[customer]
        if self.state.share > 0 and self.state.share_room() < minimum:
            heapq.heappush(self.deferred, (negative, BLOCK, customer, 0, 0))
            return
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
        key = self._key(order, value)
        if key < popped - EPSILON * max(1.0, abs(key)):
            heapq.heappush(queue, (-key, RACK, order, period, source))  # worth less now
            return 0.0, 0
        third_party = orders.third_party[order]
        limit = min(
            most,
            orders.remaining[order],
            state.power_room(orders.region[order], period, orders.kw[order]),
        )
        if third_party:
            room = state.share_room()
            waiting = bool(self.deferred) and -self.deferred[0][0] > key
            if (room <= 0 or waiting) and queue is self.queue and state.share > 0:
                heapq.heappush(self.deferred, (-key, RACK, order, period, source))
                return 0.0, 0
            limit = min(limit, room)
        elif self.deferred and -self.deferred[0][0] > key and queue is self.queue:
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
                    heapq.heappush(queue, (-self._key(order, value), RACK, order, period, SURPLUS))
            return 0.0, 0
        state.ship(order, orders, period, racks, made)
        if orders.remaining[order] > 0:
            heapq.heappush(queue, (-key, RACK, order, period, source))
        return value, racks

    def _racks_for_room(self) -> int:
        """Racks of other segments that make room under the share cap for the remaining
        racks of the most valuable deferred third-party entry."""
        state = self.state
        _, kind, first, _, _ = self.deferred[0]
        wanted = self.blocks[first][1] if kind == BLOCK else self.orders.remaining[first]
        share = state.share
        needed = (
            wanted * (1.0 - share) + state.third_party_racks - share * state.all_racks
        ) / share
        return max(1, math.ceil(needed - EPSILON))


def _value(state: FillState, orders: OrderLists, order: int, period: int, source: int) -> float:
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
