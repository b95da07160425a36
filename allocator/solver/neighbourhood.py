"""A MIP without a time limit starts from a plan of its own and stops once it is proven.

The plan is proven when HiGHS's bound is within the gap of it. Why: on generated
16k-column instances HiGHS 1.15.1's time to the default gap depended on its random
seed, 15 s or 150 s (benchmarks/README.md "M's seed spread"); the slow seeds spend
minutes in the root node's analytic-centre rounding, which no option turns off. Before
it HiGHS asks its interrupt callback (`checkLimits`), its bound already within about
1e-5 of the optimum after five rounds of cuts. So a plan known to be that good stops
the solve there (`allocator.solver.child.stop_near`), whatever the seed.

The plan (`known_plan`):

1. the LP relaxation (its duals are also the marginal values, so the LP solved after
   or beside the MIP is saved);
2. rounded down and repaired (`allocator.plan.repair.round_plan`), then filled greedily
   (`allocator.plan.fill.greedy_fill`), and re-checked (`allocator.plan.check`);
3. improved by RINS (relaxation-induced neighbourhood search, Danna, Rothberg and
   Le Pape 2005): the MIP with every integer column fixed where the plan agrees with
   the LP relaxation, except those sharing a short row (at most `SHORT_ROW` entries)
   with a column where they disagree; HiGHS solves that small MIP from the plan to a
   tenth of the solve's gap, within `NEIGHBOURHOOD_SECONDS`.

The result is the MIP start, and the MIP is interrupted once its bound is within the
gap of it. When the LP bound alone is within the gap, no MIP runs at all. Models of
fewer than `MIN_COLUMNS` columns go to HiGHS directly (`wanted`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from allocator.data.instance import Instance
from allocator.model.start import start_values
from allocator.plan.check import check_plan
from allocator.plan.tables import Plan
from allocator.solver.highs import (
    CompiledModel,
    Solution,
    SolveOutcome,
    SolverOptions,
    Termination,
    maximizes,
    solve_compiled,
    solve_in_bounds,
    start_objective,
)
from allocator.solver.progress import relative_gap
from allocator.solver.results import lp_rounded_plan

SHORT_ROW = 60
"""Rows with at most this many entries carry the neighbourhood from a column where the
plan and the LP disagree to its neighbours (an order's periods, a deal's orders); longer
rows (stock of a product in a period, the third-party share) would free nearly all."""

NEIGHBOURHOOD_SECONDS = 10.0
"""The most the RINS sub-MIP may take; its best plan by then is used."""

NEIGHBOURHOOD_GAP_SHARE = 0.1
"""The RINS sub-MIP's gap, as a share of the solve's (a plan well inside the gap, without
proving the sub-MIP's optimum: at gap 0 base-2027's took 11 s)."""

MIN_COLUMNS = 10_000
"""Models with fewer columns go to HiGHS directly: base-2027 (about 3k columns) takes
1.6-2.0 s so, and 12 s with the plan first (its RINS sub-MIP took 11 s at gap 0);
from 16k columns HiGHS's seed spread begins (module docstring)."""

INTEGRAL = 1e-6


@dataclass
class KnownPlan:
    """A plan found before the MIP: its column values and objective (the solver's, the
    contract's objective up to the model's constant), the LP bound and row duals."""

    values: np.ndarray
    objective: float
    lp_bound: float
    lp_duals: np.ndarray | None
    timings: dict[str, float]


def wanted(compiled: CompiledModel) -> bool:
    """Whether a MIP without a time limit starts from a plan of its own (`MIN_COLUMNS`)."""
    return compiled.lp.num_col_ >= MIN_COLUMNS


def known_plan(
    instance: Instance,
    compiled: CompiledModel,
    options: SolverOptions,
    *,
    strict: bool,
    before_run: Callable[[], None] | None = None,
) -> KnownPlan | None:
    """The LP relaxation, rounded, filled and improved by RINS (module docstring); None
    when the LP has no optimum or the rounded plan fails the plan check. ``before_run``
    is called just before HiGHS starts on the LP (`solve_compiled`)."""
    timings: dict[str, float] = {}
    lp = solve_compiled(compiled, options, integer=False, duals=True, before_run=before_run)
    timings["lp_relaxation"] = lp.solve_seconds
    if lp.values is None or lp.termination != Termination.OPTIMAL or lp.objective is None:
        return None
    started = time.perf_counter()
    rounded = lp_rounded_plan(instance, compiled, lp.values)
    if check_plan(instance, rounded, strict=strict):
        return None
    values = plan_columns(instance, rounded, compiled)
    timings["lp_rounding"] = time.perf_counter() - started
    started = time.perf_counter()
    improved = neighbourhood_search(compiled, options, lp.values, values)
    timings["neighbourhood"] = time.perf_counter() - started
    if improved is not None:
        values = improved
    return KnownPlan(
        values=values,
        objective=start_objective(compiled, values),
        lp_bound=lp.objective,
        lp_duals=lp.row_duals,
        timings=timings,
    )


def plan_columns(instance: Instance, plan: Plan, compiled: CompiledModel) -> np.ndarray:
    """``plan`` as the model's column values (`allocator.model.start.start_values`;
    a column of a family it does not give is 0)."""
    values = np.zeros(compiled.lp.num_col_)
    names = compiled.names
    for component, given in start_values(instance, plan).items():
        for index, column in names.columns_of(component).items():
            values[column] = given.get(index, 0.0)
    return values


def neighbourhood_bounds(
    compiled: CompiledModel, relaxed: np.ndarray, plan: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Column bounds of the RINS sub-MIP: an integer column is fixed at the plan's value
    where the plan equals the LP relaxation's value, unless it shares a row of at most
    `SHORT_ROW` entries with an integer column where they differ."""
    lp = compiled.lp
    lower = np.asarray(lp.col_lower_, dtype=float)
    upper = np.asarray(lp.col_upper_, dtype=float)
    integer = np.asarray(compiled.is_integer, dtype=bool)
    differ = integer & (np.abs(relaxed - plan) > INTEGRAL)
    row_of_entry = np.asarray(lp.a_matrix_.index_)
    column_of_entry = np.repeat(np.arange(lp.num_col_), np.diff(np.asarray(lp.a_matrix_.start_)))
    short = np.bincount(row_of_entry, minlength=lp.num_row_) <= SHORT_ROW
    touched_rows = np.zeros(lp.num_row_, dtype=bool)
    touched_rows[row_of_entry[differ[column_of_entry]]] = True
    touched_rows &= short
    touched = np.zeros(lp.num_col_, dtype=bool)
    touched[column_of_entry[touched_rows[row_of_entry]]] = True
    fixed = integer & ~differ & ~touched
    return np.where(fixed, plan, lower), np.where(fixed, plan, upper)


def neighbourhood_search(
    compiled: CompiledModel, options: SolverOptions, relaxed: np.ndarray, plan: np.ndarray
) -> np.ndarray | None:
    """The best plan HiGHS finds in the neighbourhood of ``plan`` (`neighbourhood_bounds`)
    from ``plan`` on, to a tenth of the solve's gap within `NEIGHBOURHOOD_SECONDS`; None
    if none is better."""
    lower, upper = neighbourhood_bounds(compiled, relaxed, plan)
    limit = NEIGHBOURHOOD_SECONDS
    if options.time_limit is not None:
        limit = min(limit, options.time_limit)
    sub_options = dataclasses.replace(
        options, mip_gap=options.mip_gap * NEIGHBOURHOOD_GAP_SHARE, time_limit=limit
    )
    outcome = solve_in_bounds(dataclasses.replace(compiled, start=plan), sub_options, lower, upper)
    if outcome.values is None:
        return None
    values = np.asarray(outcome.values, dtype=float)
    sign = 1.0 if maximizes(compiled) else -1.0
    if sign * start_objective(compiled, values) <= sign * start_objective(compiled, plan):
        return None
    return values


@dataclass(frozen=True)
class FromKnown:
    """What `solve_from_known` ended with, and where its plan and bound came from."""

    outcome: SolveOutcome
    plan_source: str
    """``lp_rounding``: the plan found before the MIP (HiGHS did not run, was stopped
    before an incumbent of its own, or ended at that plan); ``highs``: a better one of
    HiGHS's."""
    bound_source: str
    """``lp_relaxation``: the LP bound proved the gap and no MIP ran; ``highs``: HiGHS's."""


SAME_OBJECTIVE = 1e-12
"""Relative difference under which HiGHS's objective of its incumbent and the known
plan's are the same plan's (HiGHS sums the terms in another order)."""


def solve_from_known(
    compiled: CompiledModel,
    options: SolverOptions,
    known: KnownPlan,
    *,
    before_run: Callable[[], None] | None = None,
) -> FromKnown:
    """The MIP from ``known`` (its start), interrupted once HiGHS's bound is within the gap
    of it (`allocator.solver.child.stop_near`): then optimal, as HiGHS's own gap test
    would have said at its next node. When the LP bound is already within the gap, no
    MIP runs: the outcome is ``known`` with the LP bound."""
    lp_gap = relative_gap(known.objective, known.lp_bound)
    if lp_gap is not None and lp_gap <= options.mip_gap:
        proved = SolveOutcome(
            termination=Termination.OPTIMAL,
            solution=Solution.OPTIMAL,
            values=known.values,
            objective=known.objective,
            best_bound=known.lp_bound,
            mip_gap=lp_gap,
            solve_seconds=0.0,
            highs_status="LP bound within the gap of the plan found before the MIP",
        )
        return FromKnown(proved, "lp_rounding", "lp_relaxation")
    outcome = solve_compiled(
        dataclasses.replace(compiled, start=known.values),
        options,
        integer=True,
        before_run=before_run,
        known_objective=known.objective,
    )
    plan_source = "highs"
    if outcome.objective is not None and abs(outcome.objective - known.objective) <= (
        SAME_OBJECTIVE * abs(known.objective)
    ):
        plan_source = "lp_rounding"  # HiGHS's incumbent is its start
    if outcome.termination != Termination.INTERRUPTED:
        return FromKnown(outcome, plan_source, "highs")
    if outcome.values is None:  # HiGHS dropped the start: the known plan stands
        outcome = dataclasses.replace(
            outcome, values=known.values, objective=known.objective, solution=Solution.FEASIBLE
        )
        plan_source = "lp_rounding"
    gap = relative_gap(outcome.objective, outcome.best_bound)
    if gap is not None and gap <= options.mip_gap:
        outcome = dataclasses.replace(
            outcome, termination=Termination.OPTIMAL, solution=Solution.OPTIMAL, mip_gap=gap
        )
    return FromKnown(outcome, plan_source, "highs")
