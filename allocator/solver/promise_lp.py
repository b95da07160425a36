"""The available-to-promise model: a small MIP over a new order's columns, solved in stages.

Every shipment of the plan is fixed, so what the plan uses enters only as constants
(`AvailableProblem`, computed by `allocator.promising.available`); the columns are the new
order's racks ``x[t]`` (t in its window), the extra surplus racks of its product ``e[t]``
and, for a third party whose deal the plan rejected, ``y`` (the deal started). Built as
arrays and handed to highspy directly: no Pyomo is loaded, so an answer takes
milliseconds on top of reading the instance and the plan.

Rows, with ``X = sum_t x[t]``, ``P(t) = sum_{t' <= t} x[t']`` and ``E(t) = sum_{t' <= t} e[t']``:

* stock, every period t from the window's first to the horizon:
  ``P(t) - E(t) <= stock_left[t]`` (a rack taken from stock at t is missing from every
  later period's stock, which the plan may need);
* region power, each ``regions.csv`` row of the customer's region at period g:
  ``P(g) <= power_room[g]`` (racks the row's kW headroom takes);
* third-party share: ``X <= share_room``;
* order quantity: ``X <= racks_wanted``;
* a rejected deal's minimum: ``min_contract * y <= X <= racks_wanted * y``.

Stages, each exact (the objectives are whole numbers, the earlier optimum is held by a
row): (1) maximize X; (2) minimize ``sum_t t * x[t]``, which picks the schedule whose
P(t) is largest in every period (every limit bounds P(t) from above, so the period-wise
largest P is feasible and the only minimizer); (3) minimize the extra surplus's cost,
``sum_t rack_cost[t] * e[t]`` (surplus cost plus holding to the horizon); (4) the
fewest extra surplus racks at that cost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np

from allocator.limits import DEFAULT_SEED
from allocator.solver.arrays import ModelArrays, highs_lp, new_highs

INFINITY = highspy.kHighsInf


@dataclass(frozen=True)
class AvailableProblem:
    """The constants of the available-to-promise model (see the module docstring).

    Periods are 1-based; arrays indexed "per period" have one entry for each period
    1..periods. Every room is a whole number of racks >= 0."""

    ship_periods: np.ndarray
    """The new order's window W, ascending (may be empty: then nothing can ship)."""
    racks_wanted: int
    stock_left: np.ndarray
    """Per period: racks of the product in stock at the end of the period under the plan."""
    surplus_periods: np.ndarray
    """Periods where extra surplus of the product can be made (none after the window)."""
    surplus_room: np.ndarray
    """Per surplus period: most extra surplus racks (surplus_max_racks and the foundry's
    wafers the plan leaves)."""
    surplus_rack_cost: np.ndarray
    """Per surplus period: what one extra surplus rack costs (surplus cost plus holding
    until the horizon)."""
    power_periods: np.ndarray
    """Periods of the ``regions.csv`` rows of the customer's region that bind the window."""
    power_room: np.ndarray
    """Per power row: racks of the product the row's kW headroom takes."""
    share_room: int | None
    """Most racks the third-party share cap leaves for the new order (None: no cap)."""
    min_contract: int | None
    """For a third party whose deal the plan rejected: its minimum contract (X = 0 or
    X >= it); None otherwise."""

    @property
    def periods(self) -> int:
        return len(self.stock_left)


@dataclass(frozen=True)
class AvailableSolution:
    """The staged optimum: ``racks`` = X, ``ship_racks`` per ship period, ``surplus_racks``
    per surplus period, ``deal_started`` (None without a rejected deal)."""

    racks: int
    ship_racks: np.ndarray
    surplus_racks: np.ndarray
    deal_started: bool | None
    seconds: float


@dataclass(frozen=True)
class _Layout:
    """Column positions: x first, then e, then y (if any)."""

    ship: int
    surplus: int
    deal: bool

    @property
    def columns(self) -> int:
        return self.ship + self.surplus + int(self.deal)

    def surplus_columns(self) -> np.ndarray:
        return np.arange(self.ship, self.ship + self.surplus)


def _rows(problem: AvailableProblem, layout: _Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of the module docstring as a dense matrix (a few dozen by a few dozen)
    with lower and upper bounds."""
    ship_periods = problem.ship_periods
    first = int(ship_periods[0])
    rows: list[np.ndarray] = []
    lower: list[float] = []
    upper: list[float] = []

    def add(coefficients: np.ndarray, low: float, high: float) -> None:
        rows.append(coefficients)
        lower.append(low)
        upper.append(high)

    def prefix(period: int, *, surplus: float = 0.0) -> np.ndarray:
        row = np.zeros(layout.columns)
        row[: layout.ship] = (ship_periods <= period).astype(float)
        if surplus:
            row[layout.surplus_columns()] = surplus * (problem.surplus_periods <= period)
        return row

    for period in range(first, problem.periods + 1):  # stock
        add(prefix(period, surplus=-1.0), -INFINITY, float(problem.stock_left[period - 1]))
    for period, room in zip(problem.power_periods, problem.power_room, strict=True):
        add(prefix(int(period)), -INFINITY, float(room))
    total = prefix(problem.periods)
    if problem.share_room is not None:
        add(total, -INFINITY, float(problem.share_room))
    add(total, -INFINITY, float(problem.racks_wanted))
    if layout.deal:
        assert problem.min_contract is not None
        at_least = total.copy()
        at_least[-1] = -float(problem.min_contract)
        add(at_least, 0.0, INFINITY)
        at_most = total.copy()
        at_most[-1] = -float(problem.racks_wanted)
        add(at_most, -INFINITY, 0.0)
    return np.vstack(rows), np.asarray(lower), np.asarray(upper)


def _model(problem: AvailableProblem, layout: _Layout, threads: int) -> highspy.Highs:
    """The MIP with stage 1's objective (maximize X), in a quiet, exact Highs."""
    matrix, row_lower, row_upper = _rows(problem, layout)
    column_index, row_index = np.nonzero(matrix.T)  # column-wise, rows ascending in each
    starts = np.searchsorted(column_index, np.arange(layout.columns + 1)).astype(np.int64)
    col_upper = np.concatenate(
        [
            np.full(layout.ship, float(problem.racks_wanted)),
            problem.surplus_room.astype(float),
            np.ones(int(layout.deal)),
        ]
    )
    cost = np.zeros(layout.columns)
    cost[: layout.ship] = 1.0
    arrays = ModelArrays(
        col_cost=cost,
        col_lower=np.zeros(layout.columns),
        col_upper=col_upper,
        row_lower=row_lower,
        row_upper=row_upper,
        a_start=starts,
        a_index=row_index.astype(np.int64),
        a_value=matrix.T[column_index, row_index],
    )
    lp = highs_lp(arrays, offset=0.0, maximize=True)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * layout.columns
    highs = new_highs(threads)
    for name, value in (
        ("output_flag", False),
        ("threads", threads),
        ("random_seed", DEFAULT_SEED),
        ("mip_rel_gap", 0.0),
        ("mip_abs_gap", 1e-9),
    ):
        highs.setOptionValue(name, value)
    highs.passModel(lp)
    return highs


def _run(highs: highspy.Highs) -> np.ndarray:
    """Solve and return the columns' values rounded to whole numbers (the model always
    has the ship-nothing solution, so a stage without an optimum is a HiGHS failure)."""
    highs.run()
    status = highs.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"the available-to-promise model stopped with {status}")
    return np.rint(np.asarray(highs.getSolution().col_value, dtype=float))


def _objective(highs: highspy.Highs, costs: np.ndarray, sense: highspy.ObjSense) -> None:
    highs.changeObjectiveSense(sense)
    highs.changeColsCost(len(costs), np.arange(len(costs), dtype=np.int32), costs)


def _hold(highs: highspy.Highs, coefficients: np.ndarray, low: float, high: float) -> None:
    """Add the row ``low <= coefficients . columns <= high`` (an earlier stage's optimum)."""
    used = np.flatnonzero(coefficients)
    highs.addRow(low, high, len(used), used.astype(np.int32), coefficients[used])


def _layout(problem: AvailableProblem) -> _Layout:
    return _Layout(
        ship=len(problem.ship_periods),
        surplus=len(problem.surplus_periods),
        deal=problem.min_contract is not None,
    )


def most_racks(problem: AvailableProblem, threads: int = 1) -> int:
    """Stage 1 alone: the most racks of the new order (0 when its window is empty)."""
    if not len(problem.ship_periods):
        return 0
    layout = _layout(problem)
    values = _run(_model(problem, layout, threads))
    return int(values[: layout.ship].sum())


def solve_available(problem: AvailableProblem, threads: int = 1) -> AvailableSolution:
    """The four stages of the module docstring: most racks, earliest, cheapest, fewest."""
    started = time.perf_counter()
    layout = _layout(problem)
    ship = np.zeros(layout.ship, dtype=np.int64)
    surplus = np.zeros(layout.surplus, dtype=np.int64)
    no_deal = None if problem.min_contract is None else False
    if not layout.ship:
        return AvailableSolution(0, ship, surplus, no_deal, time.perf_counter() - started)
    highs = _model(problem, layout, threads)
    values = _run(highs)
    racks = int(values[: layout.ship].sum())
    if racks == 0:
        return AvailableSolution(0, ship, surplus, no_deal, time.perf_counter() - started)
    counts = np.zeros(layout.columns)
    counts[: layout.ship] = 1.0
    _hold(highs, counts, float(racks), INFINITY)
    if layout.ship > 1:  # stage 2: earliest
        timing = np.zeros(layout.columns)
        timing[: layout.ship] = problem.ship_periods.astype(float)
        _objective(highs, timing, highspy.ObjSense.kMinimize)
        values = _run(highs)
        _hold(highs, timing, -INFINITY, float(timing @ values))
    if layout.surplus and values[layout.surplus_columns()].any():
        cost = np.zeros(layout.columns)  # stage 3: cheapest extra surplus
        cost[layout.surplus_columns()] = problem.surplus_rack_cost
        _objective(highs, cost, highspy.ObjSense.kMinimize)
        values = _run(highs)
        least = float(cost @ values)
        _hold(highs, cost, -INFINITY, least + 1e-9 * max(1.0, abs(least)))
        fewest = np.zeros(layout.columns)  # stage 4: fewest racks at that cost
        fewest[layout.surplus_columns()] = 1.0
        _objective(highs, fewest, highspy.ObjSense.kMinimize)
        values = _run(highs)
    ship = values[: layout.ship].astype(np.int64)
    surplus = values[layout.surplus_columns()].astype(np.int64)
    deal = None if not layout.deal else bool(values[-1] > 0.5)
    return AvailableSolution(racks, ship, surplus, deal, time.perf_counter() - started)
