"""The available-to-promise MIP's stages on problems small enough to answer by hand.

Stage 2 (earliest) is exact: the schedule it picks has shipped, by every period, at least
as much as any other schedule of as many racks; stage 3 buys the cheapest extra surplus
and stage 4 no more of it than needed when it costs nothing.
"""

from __future__ import annotations

import numpy as np

from allocator.solver.promise_lp import AvailableProblem, most_racks, solve_available


def problem(
    stock_left: list[int],
    ship_periods: list[int],
    racks: int,
    *,
    surplus: dict[int, tuple[int, float]] | None = None,
    power: dict[int, int] | None = None,
    share_room: int | None = None,
    min_contract: int | None = None,
) -> AvailableProblem:
    """``surplus``: period -> (room, cost per rack); ``power``: period -> racks room."""
    surplus = surplus or {}
    power = power or {}
    return AvailableProblem(
        ship_periods=np.asarray(ship_periods, dtype=np.int64),
        racks_wanted=racks,
        stock_left=np.asarray(stock_left, dtype=np.int64),
        surplus_periods=np.asarray(sorted(surplus), dtype=np.int64),
        surplus_room=np.asarray([surplus[t][0] for t in sorted(surplus)], dtype=np.int64),
        surplus_rack_cost=np.asarray([surplus[t][1] for t in sorted(surplus)], dtype=float),
        power_periods=np.asarray(sorted(power), dtype=np.int64),
        power_room=np.asarray([power[t] for t in sorted(power)], dtype=np.int64),
        share_room=share_room,
        min_contract=min_contract,
    )


def test_a_rack_taken_early_is_missing_later() -> None:
    """Stock left 4, 1, 3 at the end of periods 1..3: a rack shipped in period 1 or 2 is
    also missing at the end of period 2, so by period 2 at most 1 rack can go, by period
    3 at most 3 (not 4 + 1 + 3)."""
    solution = solve_available(problem([4, 1, 3], [1, 2, 3], 9))
    assert solution.racks == 3
    assert solution.ship_racks.tolist() == [1, 0, 2]  # the earliest: 1 by period 1, 3 by 3


def test_earliest_is_ahead_in_every_period() -> None:
    """Stock left 2, 2, 5 with surplus room 1 in period 2: 6 racks, and the earliest ships
    2 in period 1 (not 0), 1 in period 2 (the surplus), 3 in period 3."""
    solution = solve_available(problem([2, 2, 5], [1, 2, 3], 9, surplus={2: (1, 10.0)}))
    assert solution.racks == 6
    assert solution.ship_racks.tolist() == [2, 1, 3]
    assert solution.surplus_racks.tolist() == [1]


def test_cheapest_surplus_then_fewest() -> None:
    """Two racks in period 2 with none in stock: surplus in period 1 at 5 or period 2 at 3
    (each room 2): the period-2 surplus. At no cost, no rack more than needed."""
    paid = solve_available(problem([0, 0], [2], 2, surplus={1: (2, 5.0), 2: (2, 3.0)}))
    assert paid.surplus_racks.tolist() == [0, 2]
    free = solve_available(problem([1, 1], [2], 1, surplus={1: (2, 0.0), 2: (2, 0.0)}))
    assert free.racks == 1
    assert free.surplus_racks.tolist() == [0, 0]


def test_power_share_and_deal() -> None:
    assert most_racks(problem([9, 9], [1, 2], 9, power={1: 2, 2: 3})) == 3
    assert most_racks(problem([9], [1], 9, share_room=4)) == 4
    rejected = problem([2], [1], 5, min_contract=3)
    assert most_racks(rejected) == 0
    started = solve_available(problem([3], [1], 5, min_contract=3))
    assert (started.racks, started.deal_started) == (3, True)


def test_an_empty_window_ships_nothing() -> None:
    solution = solve_available(problem([5, 5], [], 3))
    assert solution.racks == 0
    assert solution.ship_racks.size == 0
