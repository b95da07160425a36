"""Available to promise: the most racks of a new order with every shipment of the plan kept.

What the plan uses becomes constants of a small MIP over the new order's columns
(`allocator.solver.promise_lp`): the product's stock the plan leaves at the end of each
period; the surplus it did not buy (``surplus_max_racks`` less the plan's surplus, and
the foundry's wafers less what the plan's surplus of every product uses); the kW each
``regions.csv`` row of the customer's region has left after the plan's shipments of any
product; the racks the third-party share cap leaves (a third-party customer only); for a
third party whose deal the plan rejected, its minimum contract (all or nothing, and
onboarding then costs). Racks, stock and surplus are whole numbers, so each room is
rounded down to whole racks.

The answer is re-checked like a plan: the plan with the schedule, the extra surplus and
the deal added must pass `allocator.plan.check` on the instance with the order, and the
objective of the contract is recomputed from it (``objective_change``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.plan.check import check_plan
from allocator.plan.tables import Plan, make_plan, objective_terms, stock_table
from allocator.promising.request import NewOrder, table_row
from allocator.solver.promise_lp import AvailableProblem, most_racks, solve_available

LIMITS = ("supply", "region_power", "third_party_share", "minimum_contract")
"""What may hold the available answer below the racks asked for (see `limits`); plus
``ship_window`` when the product cannot ship in the order's window at all."""


@dataclass(frozen=True)
class Available:
    """The available-to-promise answer: ``racks``, the ``schedule`` that ships them as
    early as possible (``(period, racks)``), the extra ``surplus`` it needs
    (``(product, period, racks)``), whether it starts a rejected deal, the change of the
    contract's objective with it added to the plan, and the ``limits`` that hold it below
    the racks asked for."""

    racks: int
    schedule: tuple[tuple[int, int], ...]
    surplus: tuple[tuple[str, int, int], ...]
    deal_started: bool | None
    objective_change: float
    limits: tuple[str, ...]
    seconds: float
    min_contract: int | None = None
    """The rejected deal's minimum contract the answer had to meet (None: no such deal)."""
    plan: Plan | None = field(default=None, repr=False, compare=False)
    """The plan with the schedule, the extra surplus and the deal added, on the instance
    with the order: a plan of the capable model too."""


def _whole(values: np.ndarray | float) -> np.ndarray:
    """Whole racks a room of ``values`` (racks, possibly a fraction) holds: rounded down
    after a relative 1e-9 (a quotient such as 2.9999999999999996 is 3), never below 0."""
    array = np.asarray(values, dtype=float)
    return np.maximum(np.floor(array + 1e-9 * np.maximum(1.0, np.abs(array))), 0.0).astype(np.int64)


def _plan_surplus(plan: Plan, periods: int) -> pd.DataFrame:
    """The plan's surplus racks as a (period x product) table over periods 1..T."""
    surplus = plan.surplus
    table = surplus.pivot_table(index="period", columns="product", values="racks", aggfunc="sum")
    return table.reindex(range(1, periods + 1), fill_value=0).fillna(0.0)


def _surplus_rooms(
    instance: Instance, plan: Plan, order: NewOrder
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Periods, most extra racks and cost per extra rack of the product's surplus the
    plan did not buy, from its first period to the window's end."""
    periods = instance.periods
    products = instance.products.set_index("product")
    product = table_row(instance.products, "product", order.product)
    made = _plan_surplus(plan, periods)
    wafers_per_rack = products["wafers_per_rack"].reindex(made.columns).to_numpy(dtype=float)
    wafers_left = instance.surplus_wafers.to_numpy(dtype=float) - made.to_numpy() @ wafers_per_rack
    supply = instance.supply[instance.supply["product"] == order.product].set_index("period")
    supply = supply.reindex(range(1, periods + 1))
    own_made = made[order.product].to_numpy() if order.product in made else np.zeros(periods)
    room = supply["surplus_max_racks"].to_numpy(dtype=float) - own_made
    wafers = float(product["wafers_per_rack"])
    if wafers > 0:
        room = np.minimum(room, wafers_left / wafers)
    all_periods = np.arange(1, periods + 1)
    usable = (all_periods >= int(product["available_from"])) & (all_periods <= order.last_ship)
    rooms = np.where(usable, _whole(room), 0)
    chosen = np.flatnonzero(rooms > 0)
    holding = float(product["holding_cost"]) * (periods - all_periods + 1)
    cost = supply["surplus_cost"].to_numpy(dtype=float) + holding
    return all_periods[chosen], rooms[chosen], cost[chosen]


def _power_rooms(instance: Instance, plan: Plan, order: NewOrder) -> tuple[np.ndarray, np.ndarray]:
    """The customer's region's rows from the window's first period on, and the racks of
    the product each row's kW left after the plan takes (cumulative, as the model)."""
    kw_per_rack = float(table_row(instance.products, "product", order.product)["power_kw"])
    rows = instance.regions[
        (instance.regions["region"] == order.region)
        & (instance.regions["period"] >= order.first_ship)
    ]
    if kw_per_rack <= 0 or rows.empty:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    allocation = plan.allocation
    in_region = allocation["order"].map(instance.orders.set_index("order")["region"]) == (
        order.region
    )
    kw = allocation["product"].map(instance.products.set_index("product")["power_kw"])
    used_by_period = (
        (kw * allocation["racks"])[in_region]
        .groupby(allocation["ship_period"][in_region])
        .sum()
        .reindex(range(1, instance.periods + 1), fill_value=0.0)
        .cumsum()
    )
    periods = rows["period"].to_numpy(dtype=np.int64)
    left = rows["power_kw"].to_numpy(dtype=float) - used_by_period.loc[periods].to_numpy()
    return periods, _whole(left / kw_per_rack)


def _share_room(instance: Instance, plan: Plan, order: NewOrder) -> int | None:
    """Racks the share cap leaves a third party: X <= (share * all - third party) / (1 -
    share), from third party + X <= share * (all + X); None for an internal customer or
    a share of 1."""
    share = instance.policy.third_party_max_share
    if order.segment != "third_party" or share >= 1:
        return None
    allocation = plan.allocation
    total = float(allocation["racks"].sum())
    third_party = float(allocation.loc[allocation["segment"] == "third_party", "racks"].sum())
    return int(_whole((share * total - third_party) / (1.0 - share)))


def _min_contract(instance: Instance, plan: Plan, order: NewOrder) -> int | None:
    """A third party whose deal the plan rejected: its minimum contract."""
    if order.segment != "third_party":
        return None
    if float(plan.deal_accepted.get(order.customer, 0.0)) > 0.5:
        return None
    return int(table_row(instance.customers, "customer", order.customer)["min_contract_racks"])


def available_problem(instance: Instance, plan: Plan, order: NewOrder) -> AvailableProblem:
    """The constants of the available-to-promise model for ``order`` against ``plan``."""
    stock = stock_table(instance, plan)
    own = stock[stock["product"] == order.product].sort_values("period")
    surplus_periods, surplus_room, surplus_cost = _surplus_rooms(instance, plan, order)
    power_periods, power_room = _power_rooms(instance, plan, order)
    return AvailableProblem(
        ship_periods=order.ship_periods,
        racks_wanted=order.racks,
        stock_left=_whole(own["stock"].to_numpy(dtype=float)),
        surplus_periods=surplus_periods,
        surplus_room=surplus_room,
        surplus_rack_cost=surplus_cost,
        power_periods=power_periods,
        power_room=power_room,
        share_room=_share_room(instance, plan, order),
        min_contract=_min_contract(instance, plan, order),
    )


def _loosened(problem: AvailableProblem, limit: str) -> AvailableProblem | None:
    """``problem`` without ``limit`` (None when it has no such limit)."""
    if limit == "supply":
        plenty = np.full(problem.periods, problem.racks_wanted, dtype=np.int64)
        return dataclasses.replace(problem, stock_left=plenty)
    if limit == "region_power" and len(problem.power_periods):
        none = np.zeros(0, dtype=np.int64)
        return dataclasses.replace(problem, power_periods=none, power_room=none)
    if limit == "third_party_share" and problem.share_room is not None:
        return dataclasses.replace(problem, share_room=None)
    if limit == "minimum_contract" and problem.min_contract is not None:
        return dataclasses.replace(problem, min_contract=None)
    return None


def limits(problem: AvailableProblem, racks: int, threads: int = 1) -> tuple[str, ...]:
    """What holds the answer below the racks asked for: each limit of `LIMITS` whose
    removal alone gives more racks; where none alone does, the smallest pair that does
    (two limits binding together); else every limit the problem has."""
    if racks >= problem.racks_wanted:
        return ()
    if not len(problem.ship_periods):
        return ("ship_window",)
    present = [name for name in LIMITS if _loosened(problem, name) is not None]
    alone = []
    for name in present:
        loose = _loosened(problem, name)
        assert loose is not None
        if most_racks(loose, threads) > racks:
            alone.append(name)
    if alone:
        return tuple(alone)
    for index, first in enumerate(present):
        for second in present[index + 1 :]:
            loose = _loosened(problem, first)
            assert loose is not None
            both = _loosened(loose, second)
            if both is not None and most_racks(both, threads) > racks:
                return (first, second)
    return tuple(present)


def with_shipments(
    augmented: Instance,
    plan: Plan,
    order: NewOrder,
    schedule: list[tuple[int, int]],
    surplus: list[tuple[str, int, int]],
    deal_started: bool | None,
) -> Plan:
    """``plan`` on the instance with the order, plus the order's ``schedule``, the extra
    ``surplus`` and its deal started (when it starts one)."""
    ship = plan.allocation[["order", "product", "ship_period", "racks"]]
    added = pd.DataFrame(
        {
            "order": [order.order] * len(schedule),
            "product": [order.product] * len(schedule),
            "ship_period": [period for period, _ in schedule],
            "racks": [racks for _, racks in schedule],
        }
    ).astype(ship.dtypes.to_dict())
    extra = pd.DataFrame(surplus, columns=["product", "period", "racks"])
    both = pd.concat([plan.surplus, extra.astype(plan.surplus.dtypes.to_dict())])
    made = both.groupby(["product", "period"], as_index=False).agg(racks=("racks", "sum"))
    accepted = plan.deal_accepted.copy()
    if deal_started:
        accepted[order.customer] = 1.0
    return make_plan(augmented, pd.concat([ship, added], ignore_index=True), made, accepted)


def available_to_promise(
    instance: Instance,
    augmented: Instance,
    plan: Plan,
    plan_objective: float,
    order: NewOrder,
    threads: int = 1,
) -> Available:
    """The available answer for ``order`` (``augmented``: ``instance`` with it added)."""
    problem = available_problem(instance, plan, order)
    solution = solve_available(problem, threads)
    schedule = [
        (int(period), int(racks))
        for period, racks in zip(problem.ship_periods, solution.ship_racks, strict=True)
        if racks > 0
    ]
    surplus = [
        (order.product, int(period), int(racks))
        for period, racks in zip(problem.surplus_periods, solution.surplus_racks, strict=True)
        if racks > 0
    ]
    promised = with_shipments(augmented, plan, order, schedule, surplus, solution.deal_started)
    violations = check_plan(augmented, promised)
    if violations:  # the model above and the independent check disagree: a bug, not input
        raise RuntimeError(
            "the available-to-promise schedule fails the plan's re-check: " + "; ".join(violations)
        )
    objective = sum(objective_terms(augmented, promised).values())
    return Available(
        racks=solution.racks,
        schedule=tuple(schedule),
        surplus=tuple(surplus),
        deal_started=solution.deal_started,
        objective_change=float(objective - plan_objective),
        limits=limits(problem, solution.racks, threads),
        seconds=solution.seconds,
        min_contract=problem.min_contract,
        plan=promised,
    )
