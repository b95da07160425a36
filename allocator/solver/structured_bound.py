"""A Lagrangian bound on the contract's model with prices on its shared rows only.

Each customer's own rows are kept: tight enough to measure a plan by when the LP
relaxation is out of reach.

Stock is first written without its variables: v[p,t] >= 0 is "racks of p shipped by t
at most those made by t", X[p,t] - S[p,t] <= C[p,t] (cumulative shipped, surplus made
and base racks with the initial inventory), and its holding cost is h(p) per rack and
period from when a rack is made until it ships or the horizon ends: a rack shipped in t
saves h(p) * (T - t + 1), a surplus rack made in t costs as much, and every base rack
costs h(p) * (T - t + 1) up front (the constant -sum h(p) C[p,t]). The rows every
customer shares are then priced: those stock rows rho[p,t] >= 0, foundry surplus (2)
mu[t] >= 0, the third-party share (6) sigma >= 0 and region power (7) as the contract's
cumulative sums, pi[g,k] >= 0. A rack of column j (order o, product p, period t, region
g, kW k_j, share coefficient a_j) is worth

    r_j = c_j + h(p) (T - t + 1) - sum_{t' >= t} rho[p,t'] - sigma a_j
          - k_j sum_{rows (g, t_k), t_k >= t} pi[g,k]

and the rest of the LP relaxation falls apart customer by customer, each solved exactly:
an order takes its best column; a customer ships every order with r_o > 0, a third party
every order with r_o > f(c) / Q(c) (its onboarding cost spread over everything it
ordered: y[c] = sum x / Q(c) is the cheapest deal variable its rows allow; nothing when
its minimum contract exceeds Q(c)), an internal
customer short of F(c) = min_fill * Q(c) also its orders with r_o > -penalty, best
first, until it is not. A surplus rack is made at its upper bound where
-surplus_cost[p,t] - h(p) (T - t + 1) + sum_{t' >= t} rho[p,t'] - mu[t] wafers(p) > 0.
So

    L = sum_c value_c + sum over surplus of max(0, reduced) * upper - sum h(p) C[p,t]
        + sum rho * C + sum mu * wafers offered + sum pi * power limit

is at least the LP relaxation's optimum, and so the MIP's, at any prices, and equal to it
at the LP's optimal duals of those rows (tested). `descend` lowers it by projected
subgradient steps with Polyak's step towards the best plan known, from all prices 0
(plentiful stock: what the greedy plan assumes), the power prices of binding regions
set exactly now and then (`allocator.solver.power_prices`). Measured on a generated
197k-column instance (``--regions 100 --buyers 900 --periods 96 --seed 7``, LP optimum
1.25771e13, target the greedy plan 0.20% below it): 0.49% above the LP optimum after 50
steps, 0.13% after 100, 0.015% after 300 (6.3 s); with prices on every row
(`allocator.solver.bound`) 117% after 600 steps.

Only the contract's model under the profit rule and outside strict mode (`priced_rows`
returns None otherwise).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from allocator.model.coefficients import ModelCoefficients

STEP_START = 4.0
"""Polyak's step factor at the start of `descend`; halved after `STEP_PATIENCE` steps
without a lower bound."""
STEP_PATIENCE = 5


@dataclass(frozen=True)
class PricedRows:
    """The model's numbers as arrays indexed for the bound (built once)."""

    products: int
    periods: int
    cost: np.ndarray
    product: np.ndarray
    period: np.ndarray
    kw: np.ndarray
    share: np.ndarray
    power_cell: np.ndarray
    """Per column, its (region, period) cell of the power price grid (-1: no rows)."""
    order_of: np.ndarray
    """Per column, its order (0..orders-1)."""
    by_order: np.ndarray
    """Columns sorted by order."""
    order_starts: np.ndarray
    quantity: np.ndarray
    """q(o) per order."""
    customer_of_order: np.ndarray
    threshold: np.ndarray
    """Per customer, the value per rack below which it ships nothing (f/Q for a deal)."""
    committed: np.ndarray
    """Per customer, F(c) (0 where no fill row)."""
    penalty: float
    made: np.ndarray
    """(products, periods): C[p,t], base racks made by t with the initial inventory."""
    held: np.ndarray
    """(products, periods): h(p) * (T - t + 1), the holding of a rack from t on."""
    surplus_upper: np.ndarray
    """(products, periods), 0 where no surplus variable."""
    surplus_cost: np.ndarray
    wafers: np.ndarray
    wafers_offered: np.ndarray
    """(periods,), 0 where no foundry row (and no surplus variable)."""
    has_share: bool
    region_cells: int
    power_rows: np.ndarray
    """Per power row, its cell in the (region, period) grid."""
    power_limit: np.ndarray
    kw_scale: float
    wafer_scale: float


def priced_rows(numbers: ModelCoefficients, periods: int) -> PricedRows | None:
    """The arrays of the bound, or None when the model is not the contract's plain one
    (priority stages, or strict internal fill)."""
    if numbers.priority is not None or len(numbers.shortfall) != len(numbers.internal_fill):
        return None
    ship = numbers.ship
    product_names = list(dict.fromkeys(p for p, _ in numbers.stock.keys))
    product_index = {name: i for i, name in enumerate(product_names)}
    products = len(product_names)

    def grid(keys: list, values: np.ndarray) -> np.ndarray:
        cells = np.zeros((products, periods))
        for (product, period), value in zip(keys, values.tolist(), strict=True):
            cells[product_index[product], period - 1] = value
        return cells

    balance_rhs = grid(numbers.stock_balance.keys, numbers.stock_balance["rhs"])
    holding = -grid(numbers.stock.keys, numbers.stock["cost"])
    surplus_upper = grid(numbers.surplus.keys, numbers.surplus["upper"].astype(float))
    surplus_cost = -grid(numbers.surplus.keys, numbers.surplus["cost"])
    wafers = grid(numbers.surplus.keys, numbers.surplus["wafers"])
    offered = np.zeros(periods)
    for period, rhs in numbers.foundry_surplus.by_key("rhs").items():
        offered[period - 1] = rhs
    if len(numbers.stock_balance) != products * periods:
        return None
    # columns and orders
    _, order_of = np.unique(ship.order_row, return_inverse=True)
    by_order = np.argsort(order_of, kind="stable")
    order_starts = np.flatnonzero(np.r_[True, np.diff(order_of[by_order]) != 0])
    first_column = by_order[order_starts]
    customer_names = list(dict.fromkeys(ship.customer.tolist()))
    customer_index = {name: i for i, name in enumerate(customer_names)}
    customer_of_order = np.array([customer_index[c] for c in ship.customer[first_column]])
    threshold = np.zeros(len(customer_names))
    for name, cost, minimum, ordered in zip(
        numbers.deal.keys,
        numbers.deal["cost"].tolist(),
        numbers.deal["min_contract"].tolist(),
        numbers.deal["ordered"].tolist(),
        strict=True,
    ):
        if name in customer_index and ordered > 0:
            # a minimum above everything ordered leaves y = 0 the only deal
            threshold[customer_index[name]] = -cost / ordered if minimum <= ordered else np.inf
    committed = np.zeros(len(customer_names))
    for name, rhs in numbers.internal_fill.by_key("rhs").items():
        if name in customer_index:
            committed[customer_index[name]] = rhs
    penalty = float(-numbers.shortfall["cost"][0]) if len(numbers.shortfall) else 0.0
    # power: the cumulative rows (g, t_k) on a (region, period) grid
    regions = list(dict.fromkeys(g for g, _ in numbers.region_power.keys))
    region_index = {name: i for i, name in enumerate(regions)}
    power_rows = np.array(
        [region_index[g] * periods + t - 1 for g, t in numbers.region_power.keys], dtype=np.int64
    )
    power_cell = np.array(
        [
            region_index[g] * periods + t - 1 if g in region_index else -1
            for g, t in zip(ship.region.tolist(), ship.period.tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    held = holding * (periods - np.arange(periods))[None, :]
    return PricedRows(
        products=products,
        periods=periods,
        cost=ship.cost.astype(float),
        product=np.array([product_index[p] for p in ship.product], dtype=np.int64),
        period=ship.period.astype(np.int64),
        kw=ship.power_kw.astype(float),
        share=np.zeros(len(ship.cost)) if numbers.share is None else numbers.share.astype(float),
        power_cell=power_cell,
        order_of=order_of,
        by_order=by_order,
        order_starts=order_starts,
        quantity=ship.upper[first_column].astype(float),
        customer_of_order=customer_of_order,
        threshold=threshold,
        committed=committed,
        penalty=penalty,
        made=np.cumsum(balance_rhs, axis=1),
        held=held,
        surplus_upper=surplus_upper,
        surplus_cost=surplus_cost,
        wafers=wafers,
        wafers_offered=offered,
        has_share=numbers.share is not None,
        region_cells=len(regions) * periods,
        power_rows=power_rows,
        power_limit=numbers.region_power["limit"].astype(float),
        kw_scale=_typical(ship.power_kw),
        wafer_scale=_typical(numbers.surplus["wafers"]),
    )


def _typical(values: np.ndarray) -> float:
    """The mean of the positive ``values`` (1 when none)."""
    positive = np.asarray(values, dtype=float)
    positive = positive[positive > 0]
    return float(positive.mean()) if len(positive) else 1.0


@dataclass
class Prices:
    """Prices of the shared rows: stock rho (products, periods), foundry (periods,),
    share, power (per power row)."""

    stock: np.ndarray
    foundry: np.ndarray
    share: float
    power: np.ndarray


def plentiful_stock_prices(rows: PricedRows) -> Prices:
    """Every price 0: stock as plentiful as the greedy plan takes it."""
    return Prices(
        stock=np.zeros((rows.products, rows.periods)),
        foundry=np.zeros(rows.periods),
        share=0.0,
        power=np.zeros(len(rows.power_rows)),
    )


@dataclass
class _Evaluation:
    bound: float
    stock: np.ndarray
    foundry: np.ndarray
    share: float
    power: np.ndarray
    """Subgradients of L, row by row (right-hand side less activity)."""


def evaluate(rows: PricedRows, prices: Prices) -> _Evaluation:
    """L at ``prices`` (see the module docstring) and its subgradient."""
    periods = rows.periods
    # each cell's power price: the prices of its region's rows at t_k >= t
    power_price = np.zeros(len(rows.cost))
    if rows.region_cells:
        grid = np.zeros(rows.region_cells)
        np.add.at(grid, rows.power_rows, prices.power)
        grid = suffix_sums(grid.reshape(-1, periods)).ravel()
        inside = rows.power_cell >= 0
        power_price[inside] = grid[rows.power_cell[inside]]
    # a rack made by t: its stock price, the sum of rho[p,t'] over t' >= t
    stock_price = suffix_sums(prices.stock)
    reduced = (
        rows.cost
        + rows.held[rows.product, rows.period - 1]
        - stock_price[rows.product, rows.period - 1]
        - prices.share * rows.share
        - rows.kw * power_price
    )
    # each order's best column
    sorted_reduced = reduced[rows.by_order]
    best = np.maximum.reduceat(sorted_reduced, rows.order_starts)
    sizes = np.diff(np.r_[rows.order_starts, len(sorted_reduced)])
    is_best = sorted_reduced == np.repeat(best, sizes)
    position = np.where(is_best, np.arange(len(sorted_reduced)), len(sorted_reduced))
    first_best = np.minimum.reduceat(position, rows.order_starts)
    best_column = rows.by_order[first_best]
    racks = _racks(rows, best)
    customer = rows.customer_of_order
    shipped = np.bincount(customer, racks, len(rows.committed))
    short = np.maximum(rows.committed - shipped, 0.0)
    per_rack = np.where(racks > 0, best - rows.threshold[customer], 0.0)
    customers_value = float(per_rack @ racks - rows.penalty * short.sum())
    # surplus at a bound of its box
    surplus_reduced = (
        -rows.surplus_cost - rows.held + stock_price - prices.foundry[None, :] * rows.wafers
    )
    surplus = np.where((surplus_reduced > 0) & (rows.surplus_upper > 0), rows.surplus_upper, 0.0)
    bound = (
        customers_value
        + float((surplus_reduced * surplus).sum())
        - float((rows.held * np.diff(rows.made, axis=1, prepend=0.0)).sum())
        + float((prices.stock * rows.made).sum())
        + float(prices.foundry @ rows.wafers_offered)
        + float(prices.power @ rows.power_limit)
    )
    # subgradients: right-hand side less activity at the maximizer
    ship = np.zeros((rows.products, periods))
    np.add.at(ship, (rows.product[best_column], rows.period[best_column] - 1), racks)
    kw_by_cell = np.zeros(rows.region_cells)
    cells = rows.power_cell[best_column]
    inside = cells >= 0
    np.add.at(kw_by_cell, cells[inside], (rows.kw[best_column] * racks)[inside])
    if rows.region_cells:
        kw_by_cell = np.cumsum(kw_by_cell.reshape(-1, periods), 1).ravel()
    return _Evaluation(
        bound=bound,
        stock=rows.made - np.cumsum(ship - surplus, axis=1),
        foundry=rows.wafers_offered - (rows.wafers * surplus).sum(axis=0),
        share=-float(rows.share[best_column] @ racks) if rows.has_share else 0.0,
        power=rows.power_limit - kw_by_cell[rows.power_rows],
    )


def _racks(rows: PricedRows, best: np.ndarray) -> np.ndarray:
    """Racks each order ships in its customer's exact solution at reduced values
    ``best`` (per order)."""
    customer = rows.customer_of_order
    racks = np.where(best > rows.threshold[customer], rows.quantity, 0.0)
    need = rows.committed - np.bincount(customer, racks, len(rows.committed))
    # an internal customer still short: its orders above -penalty, best first
    extra = (racks == 0) & (need[customer] > 0) & (best > -rows.penalty)
    candidates = np.flatnonzero(extra)
    if len(candidates):
        order = candidates[np.lexsort((-best[candidates], customer[candidates]))]
        owner = customer[order]
        cumulative = np.cumsum(rows.quantity[order])
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        offset = np.repeat(
            cumulative[starts] - rows.quantity[order][starts], np.diff(np.r_[starts, len(order)])
        )
        before = cumulative - rows.quantity[order] - offset
        racks[order] = np.clip(need[owner] - before, 0.0, rows.quantity[order])
    return racks


def suffix_sums(values: np.ndarray) -> np.ndarray:
    """Per row, the sum of each entry and all after it: a rack made by t pays the stock
    prices rho[p,t'] of every t' >= t, a rack delivered in t the power prices of every
    later row."""
    return np.flip(np.cumsum(np.flip(values, 1), 1), 1)


def _non_increasing(values: np.ndarray) -> np.ndarray:
    """Each row's nearest non-increasing sequence (least squares; pool adjacent
    violators)."""
    fitted = np.empty_like(values)
    for index, row in enumerate(values):
        means: list[float] = []
        sizes: list[int] = []
        for value in row.tolist():
            mean, size = value, 1
            while means and means[-1] < mean:  # a rise: pool with the block before
                mean = (means[-1] * sizes[-1] + mean * size) / (sizes[-1] + size)
                size += sizes[-1]
                means.pop()
                sizes.pop()
            means.append(mean)
            sizes.append(size)
        fitted[index] = np.repeat(means, sizes)
    return fitted


PowerPrices = Callable[[PricedRows, Prices, np.ndarray], np.ndarray]
"""Best power prices of the given regions at the other prices
(`allocator.solver.power_prices.exact_power_prices`)."""
POWER_EVERY = 25
"""Steps between two exact power price updates in `descend`."""


def descend(
    rows: PricedRows,
    target: Callable[[], float | None],
    start: Prices | None = None,
    power_prices: PowerPrices | None = None,
) -> Iterator[float]:
    """Lower L step by step from ``start`` (default `plentiful_stock_prices`): projected
    subgradient steps with Polyak's step towards ``target()`` (the objective of the best
    plan known); with ``power_prices``, the power prices of every region whose power
    binds or is priced are set by it at the first and every `POWER_EVERY` th step
    (each such update can only lower L) and left alone by the steps in between. Stock
    steps are taken on R[p,t], the price of a rack made by t (non-increasing in t,
    projected by isotonic regression), whose subgradient is each period's own excess
    rather than the cumulative one. Yields the best bound so far after each step; stops when no
    target is known or the bound meets it."""
    prices = start or plentiful_stock_prices(rows)
    step, best, since = STEP_START, math.inf, 0
    best_prices = prices
    steps = 0
    while True:
        evaluation = evaluate(rows, prices)
        if power_prices is not None and steps % POWER_EVERY == 0:
            binding = (evaluation.power < 0) | (prices.power > 0)
            regions = np.unique(rows.power_rows[binding] // rows.periods)
            prices = dataclasses.replace(prices, power=power_prices(rows, prices, regions))
            evaluation = evaluate(rows, prices)
            step = STEP_START  # a new point: the steps start long again
        steps += 1
        if evaluation.bound < best:
            best, since, best_prices = evaluation.bound, 0, prices
        else:
            since += 1
            if since >= STEP_PATIENCE:  # back to the best prices, with shorter steps
                step, since, prices = step / 2, 0, best_prices
                evaluation = evaluate(rows, prices)
        yield best
        goal = target()
        # rows in racks: a kW row divided by the typical kW of a rack, a wafer row by
        # the typical wafers of one
        foundry = evaluation.foundry / rows.wafer_scale
        # with exact power prices the steps leave them alone (block coordinates)
        power = evaluation.power / rows.kw_scale
        if power_prices is not None:
            power = np.zeros_like(power)
        # stock steps on the price of a rack made by t, R[p,t] = sum_{t' >= t} rho[p,t']
        # (non-increasing in t): its subgradient is the period's own excess, not the
        # cumulative one
        stock = np.diff(evaluation.stock, axis=1, prepend=0.0)
        norm = float((stock**2).sum() + (foundry**2).sum() + evaluation.share**2 + (power**2).sum())
        if goal is None or norm == 0 or evaluation.bound <= goal:
            return
        length = step * (evaluation.bound - goal) / norm
        made_price = suffix_sums(prices.stock) - length * stock
        made_price = np.maximum(_non_increasing(made_price), 0.0)
        prices = Prices(
            stock=made_price - np.c_[made_price[:, 1:], np.zeros(rows.products)],
            foundry=np.maximum(prices.foundry - length * foundry / rows.wafer_scale, 0.0),
            share=max(prices.share - length * evaluation.share, 0.0) if rows.has_share else 0.0,
            power=np.maximum(prices.power - length * power / rows.kw_scale, 0.0),
        )
