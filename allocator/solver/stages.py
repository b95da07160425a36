"""The lexicographic rule's stages, solved in order on one compiled model.

Stage i maximizes its objective (`CompiledModel.stage_costs`, from
`allocator.model.priority`) on the model's rows plus one hold row per earlier stage,
``cost_j . x >= value_j`` at the value stage j's plan reached (less `hold_floor`'s
tolerance); the profit stage that follows is the model's own objective under every hold
(`holding_model`), solved by the caller as any model. Each stage starts from the plan
of the one before (feasible for it: that plan meets every hold). With a time limit each
stage gets an equal share of what is left, from the clock: a stage that stops at its
limit holds the value its plan reached, one without a plan holds nothing; both are
reported.

Measured against HiGHS's own lexicographic objectives (``addLinearObjective`` with
``blend_multi_objectives`` off): benchmarks/priority.py.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from allocator.data.instance import Instance
from allocator.plan.priority import (
    MIN_FILL,
    Stage,
    hold_floor,
    ordered_racks,
    priority_stages,
    stage_value,
    tier_of_customer,
)
from allocator.solver.anytime import solve_by_deadline
from allocator.solver.arrays import ModelArrays
from allocator.solver.compile import Names
from allocator.solver.highs import (
    CompiledModel,
    Solution,
    SolveOutcome,
    SolverOptions,
    Termination,
    model_arrays,
    solve_compiled,
    with_arrays,
)
from allocator.solver.results import extract_plan

HOLD_COMPONENT = "priority_hold"
"""Rows holding an earlier stage are named ``priority_hold[tier,criterion]``."""
MIN_STAGE_SECONDS = 0.05
"""A stage is given at least this much of a time limit."""


@dataclass(frozen=True)
class StageReport:
    """How a stage ended: the value its plan reached (None without a plan), HiGHS's
    bound, why it stopped and how long it took."""

    stage: Stage
    value: float | None
    bound: float | None
    termination: Termination
    seconds: float
    marginal_cost: float | None = None
    """What holding one more unit of this stage's value (a rack, or 1.0 of fill rate)
    costs the profit stage at the margin: minus its hold row's LP dual (None when the
    stage holds nothing or there are no duals)."""

    def as_dict(self) -> dict[str, Any]:
        """The ``summary.json`` ``priority_stages`` entry."""
        return {
            "tier": self.stage.tier,
            "criterion": self.stage.criterion,
            "value": self.value,
            "bound": self.bound,
            "status": str(self.termination),
            "seconds": round(self.seconds, 6),
            "marginal_cost": self.marginal_cost,
        }


@dataclass(frozen=True)
class Hold:
    """A stage held: its objective over the columns and the least value it keeps."""

    stage: Stage
    cost: np.ndarray
    value: float
    offset: float = 0.0
    """The stage objective's constant (fixed variables): the row holds value - offset."""


def solve_stages(
    instance: Instance,
    compiled: CompiledModel,
    solver: SolverOptions,
    *,
    relax: bool,
    strict: bool,
    seconds_left: Callable[[], float | None],
    stages_after: int,
) -> tuple[list[Hold], list[StageReport], np.ndarray | None]:
    """Solve every stage before profit; the holds they leave, their reports, and the
    last stage's plan as column values (a start for what follows; None if none had
    one). ``seconds_left`` is the time limit's remainder (None: no limit), shared
    equally with the ``stages_after`` solves that follow (the profit stage, ...)."""
    stages = [stage for stage in priority_stages(instance) if stage.tier is not None]
    if len(stages) != len(compiled.stage_costs):
        raise ValueError("the compiled model's stage objectives are not the instance's stages")
    holds: list[Hold] = []
    reports: list[StageReport] = []
    start = compiled.start
    offsets = compiled.stage_offsets or (0.0,) * len(stages)
    for position, (stage, cost, offset) in enumerate(
        zip(stages, compiled.stage_costs, offsets, strict=True)
    ):
        left = seconds_left()
        if left is not None and left <= MIN_STAGE_SECONDS:
            reports.append(StageReport(stage, None, None, Termination.TIME_LIMIT, 0.0))
            continue
        share = None if left is None else left / (len(stages) - position + stages_after)
        stage_model = holding_model(compiled, holds, start, cost=cost)
        started = time.perf_counter()
        if stage.criterion == MIN_FILL and not relax:
            racks_cost = compiled.stage_costs[position + 1]  # (tier, racks) follows
            outcome = _solve_min_fill(
                instance, stage_model, stage, racks_cost, solver, share, strict=strict
            )
        else:
            outcome = _solve(instance, stage_model, solver, share, relax=relax, strict=strict)
        seconds = time.perf_counter() - started
        if outcome.values is None:
            if outcome.termination.is_infeasible:
                return (
                    holds,
                    [*reports, StageReport(stage, None, None, outcome.termination, seconds)],
                    None,
                )
            reports.append(
                StageReport(stage, None, outcome.best_bound, outcome.termination, seconds)
            )
            continue
        plan = extract_plan(instance, stage_model, outcome.values, integral=not relax)
        value = stage_value(instance, plan, stage)
        holds.append(Hold(stage, cost, value, offset))
        reports.append(StageReport(stage, value, outcome.best_bound, outcome.termination, seconds))
        start = outcome.values
    return holds, reports, start


def with_hold_costs(
    reports: list[StageReport], final: CompiledModel, duals: np.ndarray
) -> list[StageReport]:
    """``reports`` with each held stage's marginal cost: minus the dual of its hold row
    in ``final`` (the profit stage's model; its LP relaxation's duals)."""
    rows = final.names.rows_of(HOLD_COMPONENT)
    priced = []
    for report in reports:
        row = rows.get((report.stage.tier, report.stage.criterion))
        cost = None if row is None else -float(duals[row]) + 0.0
        priced.append(dataclasses.replace(report, marginal_cost=cost))
    return priced


def holding_model(
    compiled: CompiledModel,
    holds: list[Hold],
    start: np.ndarray | None,
    *,
    cost: np.ndarray | None = None,
) -> CompiledModel:
    """``compiled`` with one row per hold, ``cost . x >= hold_floor(value) - offset``,
    and, given ``cost``, that objective (maximized, no offset) instead of the model's."""
    arrays = model_arrays(compiled)
    if holds:
        arrays = _with_rows(
            arrays, [hold.cost for hold in holds], [hold_floor(h.value) for h in holds]
        )
    if cost is not None:
        arrays = dataclasses.replace(arrays, col_cost=np.asarray(cost, dtype=float))
    held = with_arrays(compiled, arrays, start)
    held.names = _with_names(compiled.names, [hold.stage for hold in holds])
    if cost is not None:
        held.lp.offset_ = 0.0
        held.objective_offset = 0.0
    return held


def _with_rows(arrays: ModelArrays, rows: list[np.ndarray], lower: list[float]) -> ModelArrays:
    """``arrays`` with the dense rows ``rows`` appended (``>= lower``, no upper bound),
    the column-wise matrix rebuilt with ascending row indices."""
    n_rows, n_cols = len(arrays.row_lower), len(arrays.col_cost)
    column = np.repeat(np.arange(n_cols), np.diff(arrays.a_start))
    new_columns = [np.flatnonzero(row) for row in rows]
    all_columns = np.concatenate([column, *new_columns])
    all_rows = np.concatenate(
        [arrays.a_index, *(np.full(len(c), n_rows + i) for i, c in enumerate(new_columns))]
    )
    values = np.concatenate(
        [arrays.a_value, *(row[c] for row, c in zip(rows, new_columns, strict=True))]
    )
    order = np.lexsort((all_rows, all_columns))
    counts = np.bincount(all_columns, minlength=n_cols)
    return dataclasses.replace(
        arrays,
        row_lower=np.concatenate([arrays.row_lower, lower]),
        row_upper=np.concatenate([arrays.row_upper, np.full(len(rows), np.inf)]),
        a_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        a_index=all_rows[order].astype(np.int64),
        a_value=values[order],
    )


def _with_names(names: Names, stages: list[Stage]) -> Names:
    """``names`` with the hold rows named ``priority_hold[tier,criterion]``."""
    if not stages:
        return names
    components, indexed = list(names.components), list(names.indexed)
    if HOLD_COMPONENT not in components:
        components.append(HOLD_COMPONENT)
        indexed.append(True)
    code = components.index(HOLD_COMPONENT)
    return dataclasses.replace(
        names,
        components=components,
        indexed=indexed,
        row_code=np.concatenate([names.row_code, np.full(len(stages), code, dtype=np.int32)]),
        row_index=[*names.row_index, *((stage.tier, stage.criterion) for stage in stages)],
    )


def _solve_min_fill(
    instance: Instance,
    stage_model: CompiledModel,
    stage: Stage,
    racks_cost: np.ndarray,
    solver: SolverOptions,
    seconds: float | None,
    *,
    strict: bool,
) -> SolveOutcome:
    """Maximize F_k exactly by a search over the values it can take.

    F_k = min_c x_c / Q(c) with whole racks x_c is one of the fractions n / Q(c). HiGHS
    alone proves such a bound badly: f[k] is continuous, so branching on racks leaves
    the LP bound where it is (base-2027 with three tiers: 0.45% gap after 10 minutes,
    the incumbent optimal all along). Here the LP relaxation gives the bound B; then,
    over the fractions n / Q(c) between the best value reached and B, a binary search
    asks whether F_k >= t is feasible with f[k] fixed to t (which lets presolve round
    every customer's row to whole racks, x_c >= ceil(t Q(c))): feasible raises the best
    value to that plan's F_k, infeasible lowers B below t. It ends when no fraction is
    left between them (the value is optimal), within the MIP gap, or at the time limit.
    The optimum is mostly just under the LP bound, so the search first counts down
    from the top (the 1st, 2nd, 4th, 8th... largest fraction under B) until a check is
    feasible, then bisects; it starts from the plan of the stage before (its F_k).
    Measured on base-2027 with three tiers (loaded 2-core machine): HiGHS alone on the
    stage needed 9-26 s at its root for tiers 2 and 3 (and never proved tier 3); each
    check takes 0.4-1.2 s.

    A check maximizes the tier's racks (``racks_cost``, the next stage's objective)
    rather than nothing: finding a first feasible plan with no objective is a matter of
    luck for HiGHS. Measured on base-2027-tiered's hardest check (tier 2 at its optimum,
    feasible): with no objective 4.9 s with our seed and 0.2 s with seeds 1-3; with the
    tier's racks 0.15-0.18 s with all four. Its plan is also a good start for that stage.
    """
    started = time.monotonic()
    ends = None if seconds is None else started + seconds
    column = int(np.flatnonzero(stage_model.lp.col_cost_)[0])  # f[k]: the stage's objective
    relaxed = _solve(instance, stage_model, solver, seconds, relax=True, strict=strict)
    if relaxed.values is None or relaxed.objective is None:
        return relaxed  # infeasible, or no LP by the time limit
    bound = min(float(relaxed.objective), 1.0)
    ordered = ordered_racks(instance)
    in_tier = (tier_of_customer(instance) == stage.tier).to_numpy() & (ordered.to_numpy() > 0)
    racks_ordered = ordered.to_numpy(dtype=float)[in_tier]
    best_values = stage_model.start
    best = -1.0
    if best_values is not None:
        plan = extract_plan(instance, stage_model, best_values, integral=True)
        best = stage_value(instance, plan, stage)
    step: int | None = 1  # fractions counted down from the top; None: bisect
    termination = Termination.OPTIMAL
    while True:
        fractions = _fractions_between(racks_ordered, best, bound)
        gap_closed = best >= 0 and bound - best <= solver.mip_gap * abs(best)
        if not len(fractions) or gap_closed:
            break
        left = None if ends is None else ends - time.monotonic()
        if left is not None and left <= MIN_STAGE_SECONDS:
            termination = Termination.TIME_LIMIT
            break
        if step is None:
            target = float(fractions[len(fractions) // 2])
        else:
            target = float(fractions[max(len(fractions) - step, 0)])
        check = _fixed(stage_model, column, target, racks_cost)
        outcome = _solve(instance, check, solver, left, relax=False, strict=strict)
        if outcome.values is not None:
            plan = extract_plan(instance, check, outcome.values, integral=True)
            best, best_values = stage_value(instance, plan, stage), outcome.values
            step = None
        elif outcome.termination.is_infeasible:
            below = fractions[fractions < target]
            bound = float(below[-1]) if len(below) else max(best, 0.0)
            step = None if step is None else 2 * step
        else:  # stopped without an answer: what is reached stands
            termination = outcome.termination
            break
    if best_values is None:
        return relaxed
    return SolveOutcome(
        termination=termination,
        solution=Solution.FEASIBLE,
        values=best_values,
        objective=best,
        best_bound=max(bound, best),
        mip_gap=(max(bound, best) - best) / abs(best) if best > 0 else None,
        solve_seconds=time.monotonic() - started,
        highs_status="min-fill search",
    )


def _fractions_between(racks_ordered: np.ndarray, low: float, high: float) -> np.ndarray:
    """Every n / Q(c) with low < n / Q(c) <= high, sorted and without repeats."""
    values = []
    for ordered in racks_ordered.tolist():
        first = int(np.floor(low * ordered)) + 1
        last = int(np.floor(high * ordered + 1e-9))
        if last >= first:
            values.append(np.arange(first, last + 1) / ordered)
    if not values:
        return np.empty(0)
    found = np.unique(np.concatenate(values))
    return found[(found > low + 1e-12) & (found <= high + 1e-12)]


def _fixed(
    stage_model: CompiledModel, column: int, value: float, racks_cost: np.ndarray
) -> CompiledModel:
    """The stage model with f[k] fixed to ``value``, maximizing the tier's racks: is
    F_k >= value feasible?"""
    arrays = model_arrays(stage_model)
    lower, upper = arrays.col_lower.copy(), arrays.col_upper.copy()
    lower[column] = upper[column] = value
    checked = dataclasses.replace(
        arrays, col_lower=lower, col_upper=upper, col_cost=np.asarray(racks_cost, dtype=float)
    )
    fixed = with_arrays(stage_model, checked, None)
    fixed.names = stage_model.names
    return fixed


def _solve(
    instance: Instance,
    compiled: CompiledModel,
    solver: SolverOptions,
    seconds: float | None,
    *,
    relax: bool,
    strict: bool,
) -> SolveOutcome:
    """One stage: in this process without a time limit, else by its deadline."""
    if seconds is None:
        return solve_compiled(compiled, solver, integer=not relax)
    limited = dataclasses.replace(solver, time_limit=max(seconds, MIN_STAGE_SECONDS))
    run = solve_by_deadline(
        instance,
        compiled,
        limited,
        relax=relax,
        strict=strict,
        lp_wanted=False,
        lp_beside=False,
        plans=False,
    )
    return run.outcome
