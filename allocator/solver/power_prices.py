"""The best power prices of a region at given prices of every other shared row.

`allocator.solver.structured_bound` L falls apart by region once the stock, foundry and
share prices are fixed: region g contributes

    L_g(pi_g) = max { sum_j r'_j x_j - penalty * u : its customers' own rows }
                + sum_k pi[g,k] (limit[g,k] - sum_{t_j <= t_k} kW_j x_j)

(r'_j the rack's value at those prices without power, a deal's onboarding f/Q per rack
taken off), whose minimum over pi_g >= 0 is, by LP duality, the optimum of the region's
LP with its power rows, reached at that LP's duals of them. `exact_power_prices` solves
that LP with HiGHS for the regions asked (those whose power binds) and returns the
duals: L at them is never above L at the prices before. The subgradient steps of
`allocator.solver.structured_bound.descend` move a region's many cumulative power prices
slowly; this is where most of the bound's distance to the LP optimum was (generated L:
1.47 of 1.48 points).

Per region: columns x_j of its orders (those that could be worth shipping: r'_j > 0,
or > -penalty for an internal customer with a committed fill) and u[c]; rows: order
quantity, internal fill, and the power rows written as the model writes them, w[g,k] -
w[g,k-1] = kW delivered in (t_{k-1}, t_k] with w[g,k] <= limit[g,k] (the duals of the
latter are pi[g,k]).
"""

from __future__ import annotations

from collections.abc import Callable

import highspy
import numpy as np

from allocator.solver.arrays import new_highs
from allocator.solver.structured_bound import PricedRows, Prices, suffix_sums


def reduced_without_power(rows: PricedRows, prices: Prices) -> np.ndarray:
    """r'_j per column: value at the stock and share prices, less the deal's f/Q."""
    stock_price = suffix_sums(prices.stock)
    customer = rows.customer_of_order[rows.order_of]
    return (
        rows.cost
        + rows.held[rows.product, rows.period - 1]
        - stock_price[rows.product, rows.period - 1]
        - prices.share * rows.share
        - rows.threshold[customer]
    )


def exact_power_prices(
    rows: PricedRows,
    prices: Prices,
    regions: np.ndarray,
    stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """``prices.power`` with the rows of each region in ``regions`` (indices of the
    power price grid's regions) replaced by the duals of that region's LP; when
    ``stop`` returns True (asked before each region), the regions not yet solved keep
    their prices."""
    power = prices.power.copy()
    if not len(regions) or not rows.region_cells:
        return power
    periods = rows.periods
    reduced = reduced_without_power(rows, prices)
    column_region = np.where(rows.power_cell >= 0, rows.power_cell // periods, -1)
    row_region = rows.power_rows // periods
    customer_of_column = rows.customer_of_order[rows.order_of]
    floor = np.where(rows.committed[customer_of_column] > 0, -rows.penalty, 0.0)
    worth = reduced > floor
    for region in regions.tolist():
        if stop is not None and stop():
            break
        columns = np.flatnonzero((column_region == region) & worth)
        limits = np.flatnonzero(row_region == region)
        if not len(columns) or not len(limits):
            continue
        solved = _region_duals(rows, reduced, columns, limits)
        if solved is not None:
            in_order, duals = solved
            power[in_order] = np.maximum(duals, 0.0)
    return power


def _region_duals(
    rows: PricedRows, reduced: np.ndarray, columns: np.ndarray, limits: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """The power limit rows ``limits`` in period order and their duals in the LP of one
    region's ``columns`` (see the module docstring); None when HiGHS does not solve it."""
    periods = rows.periods
    orders, order_row = np.unique(rows.order_of[columns], return_inverse=True)
    customers = rows.customer_of_order[orders]
    filled = np.unique(customers[rows.committed[customers] > 0])
    row_periods = rows.power_rows[limits] % periods + 1
    by_period = np.argsort(row_periods, kind="stable")
    limits, row_periods = limits[by_period], row_periods[by_period]
    k = len(limits)
    # columns: x (len(columns)), u (len(filled)), w (k)
    x_count, u_count = len(columns), len(filled)
    cost = np.r_[reduced[columns], np.full(u_count, -rows.penalty), np.zeros(k)]
    lower = np.zeros(x_count + u_count + k)
    upper = np.r_[
        rows.quantity[rows.order_of[columns]], np.full(u_count, np.inf), np.full(k, np.inf)
    ]
    entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    row_lower: list[np.ndarray] = []
    row_upper: list[np.ndarray] = []
    base = 0
    # order quantity
    entries.append((base + order_row, np.arange(x_count), np.ones(x_count)))
    row_lower.append(np.full(len(orders), -np.inf))
    row_upper.append(rows.quantity[orders])
    base += len(orders)
    # internal fill: sum x + u >= F
    column_customer = customers[order_row]
    in_fill = np.isin(column_customer, filled)
    fill_of_column = np.searchsorted(filled, column_customer[in_fill])
    entries.append((base + fill_of_column, np.flatnonzero(in_fill), np.ones(int(in_fill.sum()))))
    entries.append((base + np.arange(u_count), x_count + np.arange(u_count), np.ones(u_count)))
    row_lower.append(rows.committed[filled])
    row_upper.append(np.full(u_count, np.inf))
    base += u_count
    # power balance: w_k - w_{k-1} - kW x (t in (t_{k-1}, t_k]) = 0
    period = rows.period[columns]
    slot = np.searchsorted(row_periods, period)  # the first row at or after t
    counted = slot < k
    w = x_count + u_count + np.arange(k)
    entries.append((base + slot[counted], np.flatnonzero(counted), -rows.kw[columns][counted]))
    entries.append((base + np.arange(k), w, np.ones(k)))
    entries.append((base + np.arange(1, k), w[:-1], -np.ones(k - 1)))
    row_lower.append(np.zeros(k))
    row_upper.append(np.zeros(k))
    base += k
    # power limit: w_k <= limit
    limit_base = base
    entries.append((base + np.arange(k), w, np.ones(k)))
    row_lower.append(np.full(k, -np.inf))
    row_upper.append(rows.power_limit[limits])
    base += k
    row_index = np.concatenate([e[0] for e in entries])
    col_index = np.concatenate([e[1] for e in entries])
    values = np.concatenate([e[2] for e in entries])
    by_column = np.lexsort((row_index, col_index))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(cost), base
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lower, upper
    lp.row_lower_, lp.row_upper_ = np.concatenate(row_lower), np.concatenate(row_upper)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.r_[0, np.cumsum(np.bincount(col_index, minlength=len(cost)))]
    lp.a_matrix_.index_ = row_index[by_column]
    lp.a_matrix_.value_ = values[by_column]
    highs = new_highs(1)
    highs.setOptionValue("output_flag", False)
    highs.passModel(lp)
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    duals = np.asarray(highs.getSolution().row_dual, dtype=float)[limit_base : limit_base + k]
    return limits, duals
