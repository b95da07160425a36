"""Re-solve variants of one instance on its model compiled once, its numbers updated in place.

A what-if sweep solves many variants of one base instance, and most variants change only
numbers the model's shape does not depend on: costs, bounds, right-hand sides, the share
row's coefficients, a deal's size. Building and compiling the Pyomo model again would give
the same rows and columns with a few other numbers. `CompiledBase` builds and compiles
the base instance's model once, and `CompiledBase.update` makes a variant's compiled
model from a copy of its arrays with every such number written from the variant's own
`allocator.model.coefficients` (the numbers the build itself uses: no formula is written
twice). Everything after the hand-off (the solve, the plan, its check, the marginal
values) is `pipeline.solve_built`, shared with `pipeline.solve_instance`.

Safe because the updated arrays are the arrays a rebuild compiles, bit for bit: which
columns, rows and matrix entries exist depends only on `coefficients.structure`, and a
variant whose structure differs from the base's (an order window, a column that exists
only for a positive value, a coefficient that becomes 0, wafers or kW per rack) raises
`Rebuild` and is built whole. tests/solve/test_resolve.py compares the arrays with a
rebuild for every kind of change, and checks that structural changes are caught.

What is written in place: every objective coefficient (prices, margins, attach rates,
delay penalties, surplus, holding and onboarding costs, the shortfall penalty), the
column bounds q(o) and surplus_max_racks, the right-hand sides of stock_balance (base
racks, initial inventory), foundry_surplus (wafers offered), order_quantity (racks
ordered), internal_fill (committed racks) and region_power (kW), the third_party_share
row's coefficients and the deal rows' contract sizes; and the ship-nothing MIP start,
whose stock and shortfall follow the right-hand sides.

`VariantSolver` solves variants of one base; `variant_solver` keeps one per process (a
Dask worker solving a sweep builds its base once). Not thread-safe: callers solve one
variant at a time.

Measured (`benchmarks/whatif_resolve.py`, 5 surplus scales, 2-core shared machine,
medians per scenario): build + hand-off 0.24 s -> 0.01 s on a 16k-column generated
instance and 0.05 s -> 0.00 s on base-2027. Against an 11.5 s (1.0 s) MIP that is 2-4%;
LP sweeps (``--relax``) gain most: 0.62 s -> 0.32 s per scenario on the 16k instance.

Tried and not kept: starting each MIP from the previous variant's plan when it is
feasible (it is when the surplus grows) and better than shipping nothing. HiGHS 1.15.1
took longer from that start: HiGHS time of a 5-scale sweep 5.2 s -> 14.3 s on
base-2027, 76 s -> 258 s on the 16k instance (``--modes in_place,warm_start``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from allocator.data.instance import Instance
from allocator.errors import InfeasibleError
from allocator.model.build import build_model
from allocator.model.coefficients import ModelCoefficients, ModelOptions, model_coefficients
from allocator.model.coefficients import structure as model_structure
from allocator.model.start import StartValues, start_values
from allocator.plan.tables import empty_plan
from allocator.solver import pipeline
from allocator.solver.arrays import ModelArrays
from allocator.solver.compile import Names
from allocator.solver.highs import CompiledModel, compile_model, model_arrays, with_arrays
from allocator.solver.memory import gc_paused


class Rebuild(Exception):
    """The variant cannot be solved in place; the message says why."""


def _positions(position_of: dict[Any, int], keys: Sequence[Any]) -> np.ndarray:
    """The column or row of each key (-1 where the compiler has none)."""
    return np.fromiter((position_of.get(key, -1) for key in keys), np.int64, len(keys))


def _entries(arrays: ModelArrays, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """The matrix entry (index into ``a_value``) at each (row, column); -1 where none."""
    wanted = {
        (int(row), int(column)): position
        for position, (row, column) in enumerate(zip(rows, columns, strict=True))
        if row >= 0 and column >= 0
    }
    found = np.full(len(rows), -1, dtype=np.int64)
    if not wanted:
        return found
    entries = np.flatnonzero(np.isin(arrays.a_index, np.unique(rows[rows >= 0])))
    entry_columns = np.searchsorted(arrays.a_start, entries, side="right") - 1
    for entry, row, column in zip(
        entries.tolist(), arrays.a_index[entries].tolist(), entry_columns.tolist(), strict=True
    ):
        position = wanted.get((row, column))
        if position is not None:
            found[position] = entry
    return found


class CompiledBase:
    """The base instance's compiled model and where each number of its coefficients sits
    in the arrays; `update` makes a variant's `CompiledModel` from a copy."""

    def __init__(self, instance: Instance, options: ModelOptions) -> None:
        started = time.perf_counter()
        with gc_paused():
            model = build_model(instance, options)
            self.build_seconds = time.perf_counter() - started
            self.compiled = compile_model(model)
        self.instance = instance
        self.options = options
        self.numbers = model_coefficients(instance, options)
        self.structure = model_structure(self.numbers)
        self.arrays = model_arrays(self.compiled)
        names = self.compiled.names
        if names.has_ranges():
            raise Rebuild("a ranged constraint is two rows: not updated in place")
        self._index(names)

    def _index(self, names: Names) -> None:
        numbers = self.numbers
        # x[o,p,t]: ship_racks[o,t] for the orders' own products, substitute_racks[o,p,t]
        ship_column_of = {**names.columns_of("ship_racks"), **names.columns_of("substitute_racks")}
        self.columns = {
            "ship_racks": _positions(ship_column_of, numbers.ship.keys),
            "surplus_racks": _positions(names.columns_of("surplus_racks"), numbers.surplus.keys),
            "stock_racks": _positions(names.columns_of("stock_racks"), numbers.stock.keys),
            "is_deal_accepted": _positions(names.columns_of("is_deal_accepted"), numbers.deal.keys),
            "shortfall_racks": _positions(
                names.columns_of("shortfall_racks"), numbers.shortfall.keys
            ),
        }
        self.rows = {
            name: _positions(names.rows_of(name), getattr(numbers, name).keys)
            for name in (
                "stock_balance",
                "foundry_surplus",
                "order_quantity",
                "internal_fill",
                "region_power",
            )
        }
        if any((rows < 0).any() for rows in self.rows.values()):
            raise Rebuild("a row without variables is dropped by the compiler: rebuilt")
        deal_rows = names.rows_of("third_party_deal")
        deal_columns = self.columns["is_deal_accepted"]
        self.deal_entries = {
            side: _entries(
                self.arrays,
                _positions(deal_rows, [(customer, side) for customer in numbers.deal.keys]),
                deal_columns,
            )
            for side in ("min", "max")
        }
        share_row = names.rows_of("third_party_share").get("all", -1)
        ship_columns = self.columns["ship_racks"]
        self.share_entries = _entries(
            self.arrays, np.full(len(ship_columns), share_row, dtype=np.int64), ship_columns
        )
        self.names = names

    def update(self, variant: Instance) -> CompiledModel:
        """``variant``'s compiled model: a copy of the base arrays with every in-place
        number (see the module docstring) written from ``variant``'s coefficients.
        Raises `Rebuild` when the variant's structure differs from the base's."""
        numbers = model_coefficients(variant, self.options)
        changed = _structure_difference(self.structure, model_structure(numbers))
        if changed:
            raise Rebuild(f"{changed} changed: the compiled model's shape differs")
        arrays = dataclasses.replace(
            self.arrays,
            col_cost=self._costs(numbers),
            col_upper=self.arrays.col_upper.copy(),
            row_lower=self.arrays.row_lower.copy(),
            row_upper=self.arrays.row_upper.copy(),
            a_value=self.arrays.a_value.copy(),
        )
        self._write_bounds(numbers, arrays)
        self._write_coefficients(numbers, arrays)
        return with_arrays(self.compiled, arrays, self._start(variant))

    def _costs(self, numbers: ModelCoefficients) -> np.ndarray:
        """Every objective coefficient. A zero is +0.0 (the compiler drops zero terms;
        the dense cost vector then reads +0.0)."""
        cost = self.arrays.col_cost.copy()
        for name, values in (
            ("ship_racks", numbers.ship.cost),
            ("surplus_racks", numbers.surplus["cost"]),
            ("stock_racks", numbers.stock["cost"]),
            ("is_deal_accepted", numbers.deal["cost"]),
            ("shortfall_racks", numbers.shortfall["cost"]),
        ):
            columns = self.columns[name]
            present = columns >= 0
            values = np.where(values == 0.0, 0.0, values)
            if (values[~present] != 0.0).any():
                raise Rebuild(f"a cost of {name} becomes nonzero on a column the model lacks")
            cost[columns[present]] = values[present]
        return cost

    def _write_bounds(self, numbers: ModelCoefficients, arrays: ModelArrays) -> None:
        """Column bounds q(o) and surplus_max_racks; the rows' right-hand sides."""
        for name, upper in (
            ("ship_racks", numbers.ship.upper),
            ("surplus_racks", numbers.surplus["upper"]),
        ):
            columns = self.columns[name]
            present = columns >= 0
            arrays.col_upper[columns[present]] = upper[present].astype(float)
        rows = self.rows
        stock_rhs = numbers.stock_balance["rhs"]
        arrays.row_lower[rows["stock_balance"]] = stock_rhs
        arrays.row_upper[rows["stock_balance"]] = stock_rhs
        arrays.row_upper[rows["foundry_surplus"]] = numbers.foundry_surplus["rhs"]
        arrays.row_upper[rows["order_quantity"]] = numbers.order_quantity["rhs"]
        arrays.row_lower[rows["internal_fill"]] = numbers.internal_fill["rhs"]
        arrays.row_upper[rows["region_power"]] = numbers.region_power["limit"]

    def _write_coefficients(self, numbers: ModelCoefficients, arrays: ModelArrays) -> None:
        """The share row's 1 - share / -share and the deal rows' -min_contract / -Q(c)."""
        if numbers.share is not None:
            present = self.share_entries >= 0
            arrays.a_value[self.share_entries[present]] = numbers.share[present]
        for side, values in (
            ("min", numbers.deal["min_contract"]),
            ("max", numbers.deal["ordered"]),
        ):
            entries = self.deal_entries[side]
            present = entries >= 0
            arrays.a_value[entries[present]] = -values[present]

    def _start(self, variant: Instance) -> np.ndarray | None:
        """The ship-nothing start (as `build_model` sets it), from the variant's numbers."""
        if self.options.strict:
            return None
        return start_vector(self.names, start_values(variant, empty_plan(variant)))


def start_vector(names: Names, values: StartValues) -> np.ndarray:
    """A MIP start in column order from per-component values (0 where none is given)."""
    return np.fromiter(
        (
            values.get(names.components[code], {}).get(index, 0.0)
            for code, index in zip(names.column_code.tolist(), names.column_index, strict=True)
        ),
        dtype=float,
        count=len(names.column_index),
    )


STRUCTURE_PARTS = (
    "order windows (ship_racks columns)",
    "ship periods (ship_racks columns)",
    "kW per rack (region_power_balance coefficients)",
    "regions of orders",
    "products of orders",
    "surplus_racks columns (surplus_max_racks crosses 0, or available_from)",
    "wafers per rack (foundry_surplus coefficients)",
    "products or periods (stock_racks columns)",
    "third-party customers (is_deal_accepted columns)",
    "onboarding costs crossing 0 (objective-only is_deal_accepted columns)",
    "racks ordered by a third party crossing 0 (third_party_deal coefficients)",
    "min_contract_racks crossing 0 (third_party_deal min rows)",
    "committed internal fill crossing 0 (shortfall_racks columns)",
    "stock_balance rows",
    "foundry_surplus rows",
    "orders with a window (order_quantity rows)",
    "committed internal fill crossing 0 (internal_fill rows)",
    "third_party_max_share becoming or stopping being 0 or 1 (third_party_share entries)",
    "regions.csv rows (region_power rows)",
    "priority rule, tiers or fair share (priority stages, fair_share rows)",
)
"""What each part of `allocator.model.coefficients.structure` is, for `Rebuild` messages."""


def _structure_difference(base: tuple[Any, ...], variant: tuple[Any, ...]) -> str:
    differing = [
        part
        for part, ours, theirs in zip(STRUCTURE_PARTS, base, variant, strict=True)
        if ours != theirs
    ]
    return ", ".join(differing)


def rebuild_reason(base: CompiledBase, variant: Instance) -> str | None:
    """Why ``variant`` cannot be solved in place on ``base``; None when it can."""
    try:
        base.update(variant)
    except Rebuild as error:
        return str(error)
    return None


class VariantSolver:
    """Solves variants of one base instance: in place on the base's compiled model where
    the structure allows (`CompiledBase.update`), built whole otherwise."""

    def __init__(self, base: Instance) -> None:
        self.base = base
        self._compiled: dict[ModelOptions, CompiledBase | None] = {}

    def compiled_base(self, options: ModelOptions) -> CompiledBase | None:
        """The base's compiled model for these options (built on first use); None when it
        cannot be compiled or indexed (a strict model infeasible before any solve)."""
        if options not in self._compiled:
            try:
                self._compiled[options] = CompiledBase(self.base, options)
            except (InfeasibleError, Rebuild):
                self._compiled[options] = None
        return self._compiled[options]

    def solve(self, variant: Instance, options: pipeline.RunOptions) -> pipeline.SolveResult:
        """`pipeline.solve_instance` of ``variant``, in place where it can be.

        Timings of an in-place solve: ``in_place_update`` (coefficients and arrays) and
        ``hand_off`` (the arrays to HiGHS), plus ``build`` and the compile (in
        ``hand_off``) the first time the base model is built."""
        model_options = options.model_options()
        fresh = model_options not in self._compiled
        cached = self.compiled_base(model_options)
        if cached is None:
            return pipeline.solve_instance(variant, options)
        timings: dict[str, float] = {}
        if fresh:
            timings["build"] = cached.build_seconds
            timings["hand_off"] = cached.compiled.compile_seconds
        started = time.perf_counter()
        try:
            compiled = cached.update(variant)
        except Rebuild:
            return pipeline.solve_instance(variant, options)
        timings["in_place_update"] = time.perf_counter() - started - compiled.compile_seconds
        timings["hand_off"] = timings.get("hand_off", 0.0) + compiled.compile_seconds
        return pipeline.solve_built(variant, options, None, compiled, timings)


_solvers: dict[str, VariantSolver] = {}
"""At most one entry: the solver of the last base used in this process."""


def variant_solver(base: Instance) -> VariantSolver:
    """This process's `VariantSolver` for ``base`` (one kept: the last base asked for)."""
    if base.content_hash not in _solvers:
        _solvers.clear()
        _solvers[base.content_hash] = VariantSolver(base)
    return _solvers[base.content_hash]


def clear_cache() -> None:
    """Drop the kept solver and its compiled models (frees their memory)."""
    _solvers.clear()
