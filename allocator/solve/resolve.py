"""Re-solve variants of one instance on its model compiled once, updated in place.

A what-if sweep solves many variants of one base instance, and most variants change
only numbers the model's shape does not depend on: a right-hand side (surplus wafers,
base racks, region power), a column bound (surplus assembly capacity), a cost (prices,
penalties) or the coefficients of the one ``third_party_share`` row. For those, building
the Pyomo model and compiling it again gives the same rows and columns with a few other
numbers. This module builds and compiles the base instance's model once per process
(`CompiledBase`, cached per content hash and model options), and solves a variant on a
copy of its arrays with just those numbers recomputed from the variant's own instance,
by the formulas of `allocator.model.build`. Everything after the hand-off (the solve, the
plan, its check, the marginal values) is `pipeline.solve_built`, shared with
`pipeline.solve_instance`.

Safe because the updated arrays are the arrays a rebuild compiles, bit for bit: which
rows and columns exist, their order and the matrix's sparsity depend only on data
in-place changes leave alone, and every change that could add or drop a row, a column
or a matrix entry (a value crossing 0) is caught and rebuilt instead. tests/test_resolve.py
compares the arrays with `compile_model(build_model(variant))` for every kind of change
and checks that the rebuild fallback catches the structural ones. With the same arrays
and the same start, HiGHS returns the same plan as a separate solve.

What is updated in place (any other difference to the base instance rebuilds):

==================================  ==================================================
change                              updated entries
==================================  ==================================================
``foundry.surplus_wafers``          upper bounds of the ``foundry_surplus`` rows
``supply.base_racks``,              both bounds of the ``stock_balance`` rows, and the
``products.initial_inventory``      ship-nothing MIP start (its stock follows them)
``regions.power_kw``                upper bounds of the ``region_power`` rows
``supply.surplus_max_racks``        upper bounds of ``surplus_racks`` (rebuilt if a value
                                    crosses 0: the column exists only for values > 0)
``policy.third_party_max_share``    the ``third_party_share`` row's coefficients
                                    (rebuilt if the share becomes or stops being 0 or 1:
                                    a zero coefficient is no matrix entry)
costs: ``supply.surplus_cost``,     objective coefficients (rebuilt if a column that
``orders.price_per_rack``,          appears only in the objective would get cost 0, or
``orders.delay_penalty``,           one absent would get a cost)
``products.holding_cost``,
``customers.onboarding_cost``,
``services.margin_per_rack``,
``attach.attach_rate``,
``policy.internal_shortfall_penalty``
==================================  ==================================================

`solve_instance` is `pipeline.solve_instance` with this reuse switched on inside a
`variants_of(base)` block; `allocator.whatif.run` solves every scenario that way. One cached
model per process (the last base used): a worker solving one sweep builds its base
once. Not thread-safe: callers solve one variant at a time (`whatif._SOLVE_LOCK`). The
base comes from a context, not an argument, so that `solve_instance` keeps
`pipeline.solve_instance`'s signature.

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
import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyomo.environ as pyo

from allocator.data.instance import Instance, Policy
from allocator.data.schema import TABLES
from allocator.errors import InfeasibleError
from allocator.model.build import ModelOptions, build_model, set_plan_start
from allocator.plan.tables import empty_plan
from allocator.solve import pipeline
from allocator.solve.arrays import ModelArrays
from allocator.solve.highs import (
    CompiledModel,
    compile_model,
    model_arrays,
    read_start,
    with_arrays,
)

UPDATED: dict[str, str] = {
    "foundry.surplus_wafers": "foundry",
    "supply.base_racks": "stock",
    "products.initial_inventory": "stock",
    "regions.power_kw": "power",
    "supply.surplus_max_racks": "surplus_bounds",
    "policy.third_party_max_share": "share",
    "supply.surplus_cost": "costs",
    "orders.price_per_rack": "costs",
    "orders.delay_penalty": "costs",
    "products.holding_cost": "costs",
    "customers.onboarding_cost": "costs",
    "services.margin_per_rack": "costs",
    "attach.attach_rate": "costs",
    "policy.internal_shortfall_penalty": "costs",
}
"""What a change updates in place (``TABLE.COLUMN`` or ``policy.KEY`` -> the part of the
arrays recomputed); see the module docstring."""


class Rebuild(Exception):
    """The variant cannot be solved in place; the message says why."""


# --- what differs between two instances ----------------------------------------------


def changes(base: Instance, variant: Instance) -> list[str]:
    """The inputs whose values differ: ``TABLE.COLUMN``, ``TABLE`` (rows added or
    removed), ``policy.KEY`` or ``settings.KEY``; empty when the content is the same."""
    changed = [
        f"settings.{field.name}"
        for field in dataclasses.fields(base.settings)
        if field.name != "policy"
        and getattr(base.settings, field.name) != getattr(variant.settings, field.name)
    ]
    changed += [
        f"policy.{field.name}"
        for field in dataclasses.fields(Policy)
        if getattr(base.policy, field.name) != getattr(variant.policy, field.name)
    ]
    for name, table in TABLES.items():
        ours, theirs = getattr(base, name), getattr(variant, name)
        if len(ours) != len(theirs):
            changed.append(name)
            continue
        changed += [
            f"{name}.{column}"
            for column in table.column_names
            if not ours[column].reset_index(drop=True).equals(theirs[column].reset_index(drop=True))
        ]
    return changed


def parts_to_update(base: Instance, variant: Instance) -> set[str]:
    """The parts of the arrays (`UPDATED` values) that ``variant`` changes, judged from
    the two instances alone. Raises `Rebuild` when it cannot be solved in place on
    ``base``'s model (`CompiledBase.update` may still find a cost that adds or drops a
    column)."""
    changed = changes(base, variant)
    others = [name for name in changed if name not in UPDATED]
    if others:
        raise Rebuild(
            f"{', '.join(others)} changed (only bounds, right-hand sides and costs are updated)"
        )
    if "supply.surplus_max_racks" in changed and not np.array_equal(
        _has_surplus_column(base), _has_surplus_column(variant)
    ):
        raise Rebuild("supply.surplus_max_racks crosses 0: surplus_racks columns would change")
    if "policy.third_party_max_share" in changed:
        old, new = base.policy.third_party_max_share, variant.policy.third_party_max_share
        # (1 - share) on third-party ship variables, -share on internal ones; the row
        # exists only with third-party ship variables; a zero coefficient is no entry
        shipping = set(_segments_shipping(base))
        if "third_party" in shipping and (
            (old == 1.0) != (new == 1.0)
            or ("internal" in shipping and (old == 0.0) != (new == 0.0))
        ):
            raise Rebuild(
                "third_party_max_share becomes or stops being 0 or 1: matrix entries change"
            )
    return {UPDATED[name] for name in changed}


def rebuild_reason(base: Instance, variant: Instance) -> str | None:
    """Why ``variant`` cannot be solved in place on ``base``'s model (`parts_to_update`);
    None when it can."""
    try:
        parts_to_update(base, variant)
    except Rebuild as error:
        return str(error)
    return None


def _segments_shipping(instance: Instance) -> list[str]:
    """The segments with at least one ship variable (an order with a non-empty window)."""
    orders = instance.orders
    return orders.loc[orders["first_ship"] <= orders["last_ship"], "segment"].unique().tolist()


def _has_surplus_column(instance: Instance) -> np.ndarray:
    """Per supply row, whether s[p,t] exists (as `model.add_surplus_racks` decides)."""
    supply = instance.supply
    available_from = supply["product"].map(instance.products.set_index("product")["available_from"])
    return ((supply["period"] >= available_from) & (supply["surplus_max_racks"] > 0)).to_numpy()


# --- the base model, compiled once -----------------------------------------------------


@dataclass
class _Columns:
    """One variable family: each variable's column (-1 when the compiler dropped it,
    having no nonzero anywhere) and its row in the instance table its data comes from."""

    columns: np.ndarray
    positions: np.ndarray


@dataclass
class _Rows:
    """One constraint family: each row's index and where its data is in the source table
    (a row number, or the period of ``surplus_wafers``)."""

    rows: np.ndarray
    positions: np.ndarray


def _positions(keys: list[Any], table_keys: list[Any]) -> np.ndarray:
    where = {key: index for index, key in enumerate(table_keys)}
    return np.fromiter((where[key] for key in keys), dtype=np.int64, count=len(keys))


class CompiledBase:
    """The base instance's Pyomo model and compiled arrays, with where each number that
    a variant may change sits (rows and columns by family, matrix entries of the share
    row), and `update` to make a variant's `CompiledModel` from a copy of the arrays."""

    def __init__(self, instance: Instance, options: ModelOptions) -> None:
        started = time.perf_counter()
        with pipeline.gc_paused():
            self.model = build_model(instance, options)
            self.build_seconds = time.perf_counter() - started
            self.compiled = compile_model(self.model)
        self.instance = instance
        self.options = options
        self.arrays = model_arrays(self.compiled)
        self._index(instance)

    @functools.cached_property
    def variables(self) -> list[Any]:
        """The base model's Var data of each column (for a start read off the model);
        looked up when first needed, which only a stock change does."""
        return self.compiled.names.variables(self.model)

    def _index(self, instance: Instance) -> None:
        model = self.model
        names = self.compiled.names
        if names.has_ranges():
            raise Rebuild("a ranged constraint is two rows: not updated in place")

        def columns(component: pyo.Var, positions: np.ndarray) -> _Columns:
            column_of = names.columns_of(component.name)
            found = [column_of.get(key, -1) for key in component]
            return _Columns(np.asarray(found, dtype=np.int64), positions)

        def rows(component: pyo.Constraint, positions: np.ndarray) -> _Rows:
            row_of = names.rows_of(component.name)
            found = [row_of.get(key, -1) for key in component]
            if -1 in found:
                raise Rebuild(f"a row of {component.name} has no variables: not updated in place")
            return _Rows(np.asarray(found, dtype=np.int64), positions)

        supply_keys = list(zip(instance.supply["product"], instance.supply["period"], strict=True))
        orders = list(instance.orders["order"])
        products = list(instance.products["product"])
        regions = list(zip(instance.regions["region"], instance.regions["period"], strict=True))
        ship_keys = list(model.ship_racks.keys())
        self.ship = columns(model.ship_racks, _positions([o for o, _ in ship_keys], orders))
        self.ship_periods = np.asarray([t for _, t in ship_keys], dtype=np.int64)
        self.surplus = columns(
            model.surplus_racks, _positions(list(model.surplus_racks), supply_keys)
        )
        stock_products = [p for p, _ in model.stock_racks]
        self.stock = columns(model.stock_racks, _positions(stock_products, products))
        customers = list(instance.customers["customer"])
        self.deal = columns(
            model.is_deal_accepted, _positions(list(model.is_deal_accepted), customers)
        )
        self.shortfall = columns(
            model.shortfall_racks, np.zeros(len(model.shortfall_racks), np.int64)
        )
        self.stock_balance = rows(
            model.stock_balance, _positions(list(model.stock_balance), supply_keys)
        )
        periods = np.asarray(list(model.foundry_surplus), dtype=np.int64)
        self.foundry_surplus = rows(model.foundry_surplus, periods)  # surplus_wafers[t]
        self.region_power = rows(model.region_power, _positions(list(model.region_power), regions))
        # a column with no matrix entry exists only through its (nonzero) cost
        starts = self.arrays.a_start
        self.objective_only = starts[1:] == starts[:-1]
        # the third_party_share row's matrix entries, and which are third-party orders
        self.share_entries = np.zeros(0, dtype=np.int64)
        self.share_third_party = np.zeros(0, dtype=bool)
        if "all" in model.third_party_share:
            share_row = names.rows_of("third_party_share").get("all", -1)
            entries = np.flatnonzero(self.arrays.a_index == share_row)
            entry_columns = np.searchsorted(starts, entries, side="right") - 1
            third_party = np.zeros(self.compiled.lp.num_col_, dtype=bool)
            segments = instance.orders["segment"].to_numpy()[self.ship.positions]
            present = self.ship.columns >= 0
            third_party[self.ship.columns[present & (segments == "third_party")]] = True
            self.share_entries = entries
            self.share_third_party = third_party[entry_columns]

    def update(self, variant: Instance) -> CompiledModel:
        """``variant``'s compiled model: a copy of the base arrays with the entries its
        changes touch recomputed from ``variant`` (see the module docstring). Raises
        `Rebuild` when a change would alter which rows, columns or entries exist."""
        parts = parts_to_update(self.instance, variant)
        base = self.arrays
        arrays = dataclasses.replace(
            base,
            col_cost=self._costs(variant) if "costs" in parts else base.col_cost,
            col_upper=self._surplus_upper(variant) if "surplus_bounds" in parts else base.col_upper,
            row_lower=base.row_lower.copy() if "stock" in parts else base.row_lower,
            row_upper=base.row_upper.copy()
            if parts & {"stock", "foundry", "power"}
            else base.row_upper,
            a_value=self._share_values(variant) if "share" in parts else base.a_value,
        )
        if "stock" in parts:
            self._set_stock_rhs(variant, arrays)
        if "foundry" in parts:
            rows = self.foundry_surplus
            arrays.row_upper[rows.rows] = variant.surplus_wafers.loc[rows.positions].to_numpy(float)
        if "power" in parts:
            rows = self.region_power
            limits = variant.regions["power_kw"].to_numpy(dtype=float)
            arrays.row_upper[rows.rows] = limits[rows.positions]
        start = self.compiled.start
        if "stock" in parts and not self.options.strict:
            set_plan_start(self.model, variant, empty_plan(variant))  # as build_model does
            start = read_start(self.variables)
        return with_arrays(self.compiled, arrays, start)

    def _costs(self, variant: Instance) -> np.ndarray:
        """Every objective coefficient, as `model.add_objective` writes it; a zero is
        +0.0 (the compiler drops zero terms; the dense cost vector then reads +0.0)."""
        orders = variant.orders
        unit_value = (orders["price_per_rack"] + orders["margin_per_rack"]).to_numpy(float)
        delay_penalty = orders["delay_penalty"].to_numpy(float)
        requested = orders["period"].to_numpy(np.int64)
        at = self.ship.positions
        holding = variant.products["holding_cost"].to_numpy(float)
        onboarding = variant.customers["onboarding_cost"].to_numpy(float)
        surplus_cost = variant.supply["surplus_cost"].to_numpy(float)
        penalty = float(variant.policy.internal_shortfall_penalty)
        cost = self.arrays.col_cost.copy()
        for family, values in (
            (self.ship, unit_value[at] - delay_penalty[at] * (self.ship_periods - requested[at])),
            (self.surplus, -surplus_cost[self.surplus.positions]),
            (self.stock, -holding[self.stock.positions]),
            (self.deal, -onboarding[self.deal.positions]),
            (self.shortfall, np.full(len(self.shortfall.columns), -penalty)),
        ):
            values = np.where(values == 0.0, 0.0, values)
            present = family.columns >= 0
            if (values[~present] != 0.0).any():
                raise Rebuild("a cost becomes nonzero on a column the model does not have")
            columns = family.columns[present]
            if (self.objective_only[columns] & (values[present] == 0.0)).any():
                raise Rebuild("a cost becomes 0 on a column that appears only in the objective")
            cost[columns] = values[present]
        return cost

    def _surplus_upper(self, variant: Instance) -> np.ndarray:
        """Column bounds with s[p,t] <= surplus_max_racks[p,t] (`model.add_surplus_racks`)."""
        upper = self.arrays.col_upper.copy()
        high = variant.supply["surplus_max_racks"].to_numpy(np.int64)[self.surplus.positions]
        present = self.surplus.columns >= 0
        upper[self.surplus.columns[present]] = high[present].astype(float)
        return upper

    def _set_stock_rhs(self, variant: Instance, arrays: ModelArrays) -> None:
        """stock_balance[p,t] = base_racks[p,t] (+ initial_inventory[p] at t = 1), as
        `model.add_stock_balance` writes it; an equality: both bounds."""
        supply = variant.supply
        initial = supply["product"].map(variant.products.set_index("product")["initial_inventory"])
        at = self.stock_balance.positions
        base_racks = supply["base_racks"].to_numpy(float)[at]
        first = supply["period"].to_numpy(np.int64)[at] == 1
        rhs = base_racks + np.where(first, initial.to_numpy(float)[at], 0.0)
        arrays.row_lower[self.stock_balance.rows] = rhs
        arrays.row_upper[self.stock_balance.rows] = rhs

    def _share_values(self, variant: Instance) -> np.ndarray:
        """The third_party_share row's entries: 1 - share for third-party orders, -share
        for internal ones (`model.add_third_party_share`); the same entries are nonzero
        as in the base (`rebuild_reason` checked)."""
        share = variant.policy.third_party_max_share
        values = self.arrays.a_value.copy()
        values[self.share_entries] = np.where(self.share_third_party, 1.0 - share, -share)
        return values


# --- solving a variant ---------------------------------------------------------------


_base: ContextVar[Instance | None] = ContextVar("allocator_resolve_base", default=None)
_cached: dict[tuple[str, ModelOptions], CompiledBase | None] = {}
"""At most one entry: the last base model built (None: its model could not be compiled)."""


@contextmanager
def variants_of(base: Instance) -> Iterator[None]:
    """Inside this block `solve_instance` solves variants of ``base`` in place where it
    can."""
    token = _base.set(base)
    try:
        yield
    finally:
        _base.reset(token)


def clear_cache() -> None:
    """Drop the cached base model (frees its memory)."""
    _cached.clear()


def compiled_base(base: Instance, options: ModelOptions) -> CompiledBase | None:
    """The cached compiled model of ``base`` (built on first use; one kept per process);
    None when ``base``'s model cannot be compiled or indexed (a strict model infeasible
    before any solve, a ranged row): its variants are rebuilt."""
    key = (base.content_hash, options)
    if key not in _cached:
        _cached.clear()
        try:
            _cached[key] = CompiledBase(base, options)
        except (InfeasibleError, Rebuild):
            _cached[key] = None
    return _cached[key]


def solve_instance(
    instance: Instance, options: pipeline.RunOptions, extend: pipeline.ModelExtension | None = None
) -> pipeline.SolveResult:
    """`pipeline.solve_instance`, solved in place on the base's cached model when called
    inside `variants_of(base)` and ``instance`` differs from the base only in what
    `UPDATED` lists (no ``extend``); otherwise a full build.

    Timings of an in-place solve: ``in_place_update`` (comparing the instances and
    updating the arrays) and ``hand_off`` (the arrays to HiGHS), plus ``build`` and the
    compile (in ``hand_off``) the first time the base model is built.
    """
    base = _base.get()
    if base is None or extend is not None or rebuild_reason(base, instance) is not None:
        return pipeline.solve_instance(instance, options, extend)
    model_options = options.model_options()
    timings: dict[str, float] = {}
    fresh = (base.content_hash, model_options) not in _cached
    cached = compiled_base(base, model_options)
    if cached is None:
        return pipeline.solve_instance(instance, options)
    if fresh:
        timings["build"] = cached.build_seconds
        timings["hand_off"] = cached.compiled.compile_seconds
    started = time.perf_counter()
    try:
        compiled = cached.update(instance)
    except Rebuild:
        return pipeline.solve_instance(instance, options)
    timings["in_place_update"] = time.perf_counter() - started - compiled.compile_seconds
    timings["hand_off"] = timings.get("hand_off", 0.0) + compiled.compile_seconds
    return pipeline.solve_built(instance, options, cached.model, compiled, timings)
