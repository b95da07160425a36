"""Instance -> model -> HiGHS -> plan: the solve pipeline every command shares."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import pyomo.core as pyo

from allocator.data.instance import Instance
from allocator.errors import InfeasibleError
from allocator.faults import failpoint
from allocator.model.build import ModelExtension, build_model
from allocator.model.start import set_plan_start
from allocator.plan.check import check_plan
from allocator.plan.priority import PROFIT, Stage, check_holds, priority_stages
from allocator.plan.repair import round_plan
from allocator.plan.tables import objective_terms
from allocator.solver.anytime import solve_by_deadline
from allocator.solver.highs import (
    CompiledModel,
    Solution,
    Termination,
    compile_model,
    irreducible_conflict,
    lp_duals,
    read_start,
    solve_compiled,
    start_lp_duals_beside,
    start_objective,
)
from allocator.solver.memory import collecting_garbage, gc_paused, worth_freeing
from allocator.solver.neighbourhood import FromKnown, known_plan, solve_from_known, wanted
from allocator.solver.results import extract_plan, marginal_values
from allocator.solver.solved import RunOptions, SolveResult, versions
from allocator.solver.stages import (
    MIN_STAGE_SECONDS,
    StageReport,
    holding_model,
    solve_stages,
    with_hold_costs,
)


def solve_instance(
    instance: Instance,
    options: RunOptions,
    extend: ModelExtension | None = None,
    *,
    clock_started: float | None = None,
) -> SolveResult:
    """Build, solve and read back one instance.

    Raises `InfeasibleError` (naming the conflicting rows) when the model has no plan,
    which only strict mode can cause. ``extend`` may add components to the model first;
    ``solver_objective`` then includes them, while ``objective`` stays the contract's objective
    recomputed from the plan. Under the lexicographic rule with ``priority_cost`` the
    instance is solved once more under the profit rule (a time limit is shared: the
    stages and that solve get equal parts). A time limit counts from ``clock_started`` (a
    `time.monotonic`; None: now, so the build counts in it).
    """
    if clock_started is None:
        clock_started = time.monotonic()
    if not (instance.policy.is_lexicographic and options.priority_cost):
        return _solve_instance(instance, options, extend, clock_started)
    limit = options.solver.time_limit
    stages = len(priority_stages(instance))
    first = options
    if limit is not None:
        first = dataclasses.replace(
            options,
            solver=dataclasses.replace(options.solver, time_limit=limit * stages / (stages + 1)),
        )
    result = _solve_instance(instance, first, extend, clock_started)
    left = None
    if limit is not None:
        left = max(limit - (time.monotonic() - clock_started), MIN_STAGE_SECONDS)
    reference = _solve_instance(
        instance.with_policy(dataclasses.replace(instance.policy, priority_rule="profit")),
        dataclasses.replace(
            options,
            priority_cost=False,
            marginal_values=False,
            solver=dataclasses.replace(options.solver, time_limit=left),
        ),
        extend,
        time.monotonic(),
    )
    cost = None
    if reference.objective is not None and result.objective is not None:
        cost = reference.objective - result.objective
    return dataclasses.replace(result, options=options, priority_cost=cost)


def _solve_instance(
    instance: Instance,
    options: RunOptions,
    extend: ModelExtension | None,
    clock_started: float,
) -> SolveResult:
    """`solve_instance` without the priority rule's extra solve."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    # The collector stays paused through the solve: re-enabled after the build, its first
    # automatic run would walk the whole live model (0.5 s at 197k columns) for nothing
    with gc_paused():
        model = build_model(instance, options.model_options())
        if extend is not None:
            extend(model)
        timings["build"] = time.perf_counter() - started
        failpoint("solve:built")
        compiled = compile_model(model)
        timings["hand_off"] = compiled.compile_seconds
        if not options.lp_first:
            # the arrays and names are all the solve needs: the model, expressions and
            # all, is freed while HiGHS runs (see `collecting_garbage`)
            model = None
        return solve_built(
            instance,
            options,
            model,
            compiled,
            timings,
            anytime_plans=extend is None,
            clock_started=clock_started,
        )


def solve_built(
    instance: Instance,
    options: RunOptions,
    model: pyo.ConcreteModel | None,
    compiled: CompiledModel,
    timings: dict[str, float],
    *,
    anytime_plans: bool = True,
    clock_started: float | None = None,
) -> SolveResult:
    """Solve a built and compiled model of ``instance`` and read the result back (see
    `_solve_model`); under the lexicographic rule, stage by stage (`_solve_stages`). A
    time limit counts from ``clock_started`` (a `time.monotonic`; None: now)."""
    if clock_started is None:
        clock_started = time.monotonic()
    if compiled.stage_costs:
        return _solve_stages(instance, options, compiled, timings, clock_started)
    return _solve_model(
        instance,
        options,
        model,
        compiled,
        timings,
        anytime_plans=anytime_plans,
        clock_started=clock_started,
    )


def _solve_stages(
    instance: Instance,
    options: RunOptions,
    compiled: CompiledModel,
    timings: dict[str, float],
    clock_started: float,
) -> SolveResult:
    """The stages before profit (`allocator.solver.stages`), then the profit stage: the
    model's objective under every hold, solved as any model but without anytime plans
    (they know nothing of the holds). The plan is re-checked against the holds too."""
    limit = options.solver.time_limit
    ends = None if limit is None else clock_started + limit

    def seconds_left() -> float | None:
        return None if ends is None else ends - time.monotonic()

    started = time.perf_counter()
    holds, reports, start = solve_stages(
        instance,
        compiled,
        options.solver,
        relax=options.relax,
        strict=options.strict,
        seconds_left=seconds_left,
        stages_after=1,
    )
    timings["priority_stages"] = time.perf_counter() - started
    if reports and reports[-1].value is None and reports[-1].termination.is_infeasible:
        raise _explain_infeasible(instance, options, compiled)
    final = holding_model(compiled, holds, compiled.start if start is None else start)
    solver = options.solver
    if ends is not None:
        left = max(ends - time.monotonic(), MIN_STAGE_SECONDS)
        solver = dataclasses.replace(solver, time_limit=left)
    started = time.perf_counter()
    result = _solve_model(
        instance,
        dataclasses.replace(options, solver=solver),
        None,
        final,
        timings,
        anytime_plans=False,
    )
    profit = StageReport(
        Stage(None, PROFIT),
        result.objective,
        result.best_bound,
        result.termination,
        time.perf_counter() - started,
    )
    if result.row_duals is not None:
        reports = with_hold_costs(reports, final, result.row_duals)
    violations = list(result.violations)
    if result.plan is not None:
        held = [(hold.stage, hold.value) for hold in holds]
        violations += check_holds(instance, result.plan, held)
    return dataclasses.replace(
        result, options=options, priority_stages=(*reports, profit), violations=violations
    )


def _solve_model(
    instance: Instance,
    options: RunOptions,
    model: pyo.ConcreteModel | None,
    compiled: CompiledModel,
    timings: dict[str, float],
    *,
    anytime_plans: bool = True,
    clock_started: float | None = None,
) -> SolveResult:
    """Solve a built and compiled model of ``instance`` and read the result back: the
    part of `solve_instance` after the hand-off, shared with `allocator.solver.resolve`, which
    passes a model built for another instance with the same rows and columns and arrays
    updated to this one. ``model`` is needed only for ``options.lp_first`` (the rounded
    start is set on it); None means it was dropped, and it is garbage-collected while
    HiGHS runs. ``timings`` gets the solve phases added. With a time limit the solve
    ends by its deadline (`allocator.solver.anytime`); ``anytime_plans`` (the contract's
    model only: not with an extension) lets a plan made from the LP relaxation or
    greedily be written when it beats HiGHS's incumbent. The time limit counts from
    ``clock_started`` (None: now), an LP relaxation solved first included."""
    if clock_started is None:
        clock_started = time.monotonic()
    duals = None
    is_mip = not options.relax and bool(compiled.is_integer.any())
    if is_mip and options.lp_first:
        if model is None:
            raise ValueError("lp_first needs the model to set the rounded start on")
        duals = _solve_lp_first(instance, options, model, compiled, timings)
    solver = options.solver
    if solver.time_limit is not None:
        return _solve_by_deadline(
            instance, options, model, compiled, timings, duals, anytime_plans, clock_started
        )
    free = model is None and worth_freeing(compiled.lp.num_col_)
    known = None
    from_known: FromKnown | None = None
    if is_mip and anytime_plans and not options.lp_first and wanted(compiled):
        # the dropped model is freed while this plan's LP relaxation runs, not held to the MIP
        with collecting_garbage(free) as before_run:
            known = known_plan(
                instance, compiled, solver, strict=options.strict, before_run=before_run
            )
        free = False
    if known is not None:
        timings.update(known.timings)
        duals = known.lp_duals
    beside = None
    if is_mip and options.marginal_values and duals is None and options.lp_beside:
        beside = start_lp_duals_beside(compiled, options.solver)
    try:
        with collecting_garbage(free) as before_run:
            if known is not None:
                from_known = solve_from_known(compiled, solver, known, before_run=before_run)
                outcome = from_known.outcome
            else:
                outcome = solve_compiled(
                    compiled,
                    solver,
                    integer=not options.relax,
                    duals=options.relax,
                    before_run=before_run,
                )
        timings["highs"] = outcome.solve_seconds
        failpoint("solve:solved")
        if beside is not None and outcome.values is None:
            beside.cancel()  # no plan, no marginal values; and an IIS may follow
        if outcome.values is None and outcome.termination.is_infeasible:
            raise _explain_infeasible(instance, options, compiled)
        if options.relax:
            duals = outcome.row_duals

        started = time.perf_counter()
        plan = objective = None
        terms: dict[str, float] = {}
        violations: list[str] = []
        if outcome.values is not None:
            integral = not options.relax
            plan = extract_plan(instance, compiled, outcome.values, integral=integral)
            terms = objective_terms(instance, plan)
            objective = sum(terms.values())
            violations = check_plan(instance, plan, strict=options.strict, integral=integral)
        marginal = source = None
        if options.marginal_values and outcome.values is not None:
            source = "lp" if options.relax else "lp_relaxation"
            finished = False
            if duals is None and beside is not None:
                waited = time.perf_counter()
                finished, duals = beside.result()
                timings["lp_relaxation_wait"] = time.perf_counter() - waited
            if duals is None and not finished:
                duals = lp_duals(compiled, options.solver)
            if duals is not None:
                marginal = marginal_values(instance, compiled, duals)
    finally:  # also when reading back fails: no LP child outlives the solve
        if beside is not None:
            beside.cancel()
    timings["extract"] = time.perf_counter() - started
    # the plan found before the MIP says where its plan and bound came from; else HiGHS
    plan_source, bound_source = (
        (from_known.plan_source, from_known.bound_source) if from_known else ("highs", "highs")
    )
    return SolveResult(
        instance=instance,
        options=options,
        termination=outcome.termination,
        solution=outcome.solution,
        plan=plan,
        objective=objective,
        objective_terms=terms,
        solver_objective=outcome.objective,
        best_bound=outcome.best_bound,
        mip_gap=outcome.mip_gap,
        marginal_values=marginal,
        marginal_values_source=source if marginal is not None else None,
        row_duals=duals if marginal is not None else None,
        violations=violations,
        timings=timings,
        versions=versions(),
        plan_source=None if plan is None else plan_source,
        bound_source=None if outcome.best_bound is None else bound_source,
    )


def _solve_by_deadline(
    instance: Instance,
    options: RunOptions,
    model: pyo.ConcreteModel | None,
    compiled: CompiledModel,
    timings: dict[str, float],
    duals: np.ndarray | None,
    anytime_plans: bool,
    clock_started: float,
) -> SolveResult:
    """`solve_built` with a time limit: ended by its deadline, the best plan found by
    then (`allocator.solver.anytime`)."""
    with collecting_garbage(model is None and worth_freeing(compiled.lp.num_col_)) as before_run:
        run = solve_by_deadline(
            instance,
            compiled,
            options.solver,
            relax=options.relax,
            strict=options.strict,
            lp_wanted=options.marginal_values and duals is None,
            lp_beside=options.lp_beside,
            plans=anytime_plans and not options.lp_first,
            before_run=before_run,
            started=clock_started,
        )
    outcome = run.outcome
    timings["highs"] = outcome.solve_seconds
    timings.update(run.timings)
    failpoint("solve:solved")
    if run.plan is None and outcome.termination.is_infeasible:
        raise _explain_infeasible(instance, options, compiled)
    if duals is None:
        duals = run.duals
    marginal = None
    if options.marginal_values and run.plan is not None and duals is not None:
        marginal = marginal_values(instance, compiled, duals)
    solution = outcome.solution
    if run.plan is not None and solution == Solution.NONE:
        solution = Solution.FEASIBLE
    return SolveResult(
        instance=instance,
        options=options,
        termination=outcome.termination,
        solution=solution,
        plan=run.plan,
        objective=sum(run.objective_terms.values()) if run.plan is not None else None,
        objective_terms=run.objective_terms,
        solver_objective=run.solver_objective,
        best_bound=run.best_bound,
        mip_gap=run.mip_gap,
        marginal_values=marginal,
        marginal_values_source=(
            ("lp" if options.relax else "lp_relaxation") if marginal is not None else None
        ),
        row_duals=duals if marginal is not None else None,
        violations=run.violations,
        timings=timings,
        versions=versions(),
        plan_source=run.source,
        bound_source=run.bound_source,
        plans_found=tuple(found.as_dict() for found in run.plans_found),
    )


def _solve_lp_first(
    instance: Instance,
    options: RunOptions,
    model: pyo.ConcreteModel,
    compiled: CompiledModel,
    timings: dict[str, float],
) -> np.ndarray | None:
    """Solve the LP relaxation before the MIP: its duals are the marginal values, and its
    solution rounded to a feasible plan (`round_plan`) is the MIP start when it beats the
    start already set (ship nothing, or an extension's). Returns the LP's row duals."""
    outcome = solve_compiled(compiled, options.solver, integer=False, duals=True)
    timings["lp_relaxation"] = outcome.solve_seconds
    if outcome.values is None or outcome.termination != Termination.OPTIMAL:
        return None
    started = time.perf_counter()
    relaxed = extract_plan(instance, compiled, outcome.values, integral=False)
    rounded = round_plan(instance, relaxed)
    if not check_plan(instance, rounded, strict=options.strict):
        previous = compiled.start
        set_plan_start(model, instance, rounded)
        start = read_start(compiled.names.variables(model))
        if start is not None and (
            previous is None
            or start_objective(compiled, start) > start_objective(compiled, previous)
        ):
            compiled.start = start
    timings["lp_rounding"] = time.perf_counter() - started
    return outcome.row_duals


def _explain_infeasible(instance: Instance, options: RunOptions, compiled: Any) -> InfeasibleError:
    """Name the conflict: HiGHS's IIS of the LP relaxation; where the LP relaxation is
    feasible (integrality causes the conflict), the internal fills that an elastic
    re-solve (non-strict) leaves short."""
    conflicts = irreducible_conflict(compiled, options.solver)
    if conflicts is not None:
        return InfeasibleError(conflicts, "IIS of the LP relaxation (HiGHS)")
    elastic = solve_instance(
        instance,
        RunOptions(options.solver, strict=False, marginal_values=False, priority_cost=False),
    )
    short: list[str] = []
    if elastic.plan is not None:
        from allocator.plan.tables import shortfall_racks

        shortfall = shortfall_racks(instance, elastic.plan)
        short = [f"internal_fill[{customer}]" for customer in shortfall.index[shortfall > 1e-6]]
    return InfeasibleError(short, "elastic re-solve with shortfall allowed")
