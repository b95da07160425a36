"""Instance -> model -> HiGHS -> plan: the solve pipeline every command shares."""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from allocator import __version__
from allocator.data.instance import Instance
from allocator.errors import InfeasibleError
from allocator.faults import failpoint
from allocator.model.build import ModelExtension, ModelOptions, build_model
from allocator.model.start import set_plan_start
from allocator.plan.check import check_plan
from allocator.plan.repair import round_plan
from allocator.plan.tables import Plan, objective_terms
from allocator.solver.anytime import solve_by_deadline
from allocator.solver.highs import (
    CompiledModel,
    Solution,
    SolverOptions,
    Termination,
    compile_model,
    highs_version,
    irreducible_conflict,
    lp_duals,
    read_start,
    solve_compiled,
    start_lp_duals_beside,
    start_objective,
)
from allocator.solver.results import extract_plan, marginal_values


@dataclass(frozen=True)
class RunOptions:
    """Everything a solve is run with."""

    solver: SolverOptions = field(default_factory=SolverOptions)
    strict: bool = False
    relax: bool = False
    marginal_values: bool = True
    lp_beside: bool = True
    """For a MIP, solve the LP relaxation for the marginal values in a second process
    while the MIP runs, when the machine has a core to spare (`allocator.solver.lp_beside`).
    Off where every core already runs a solve (what-if workers)."""
    lp_first: bool = False
    """For a MIP, solve the LP relaxation first: marginal values and a rounded MIP start.
    Off by default: with that start HiGHS 1.15.1 stayed in the root node of a generated
    34k-variable instance for over 6 minutes past a 60 s time limit (ship-nothing start:
    stopped at 61 s)."""

    def model_options(self) -> ModelOptions:
        return ModelOptions(strict=self.strict, relax=self.relax)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class SolveResult:
    """A finished solve: why the solver stopped (``termination``, the summary's
    ``status``) and the plan it found (``plan`` None when ``solution`` is ``none``)."""

    instance: Instance
    options: RunOptions
    termination: Termination
    solution: Solution
    plan: Plan | None
    objective: float | None
    objective_terms: dict[str, float]
    solver_objective: float | None
    best_bound: float | None
    mip_gap: float | None
    marginal_values: pd.DataFrame | None
    marginal_values_source: str | None
    violations: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    plan_source: str | None = None
    """Where the plan came from: ``highs``, or an anytime plan of a time-limited solve
    that beat HiGHS's incumbent (``lp_rounding``, ``greedy``; `allocator.solver.anytime`)."""
    bound_source: str | None = None
    """Whose bound ``best_bound`` is: ``highs``, or for a time-limited MIP the tighter
    ``lp_relaxation`` or ``lagrangian`` (`allocator.solver.bound`, while the LP relaxation
    has not finished)."""

    @property
    def status(self) -> Termination:
        """The summary's ``status``: why the solver stopped."""
        return self.termination

    @property
    def solve_seconds(self) -> float:
        """Seconds inside HiGHS: the MIP (or LP), plus the LP relaxation solved first."""
        return self.timings.get("highs", 0.0) + self.timings.get("lp_relaxation", 0.0)


def versions() -> dict[str, str]:
    import pyomo.version

    return {"allocator": __version__, "pyomo": str(pyomo.version.version), "highs": highs_version()}


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while Pyomo allocates millions of
    objects that all stay alive: a 104k-variable build took 0.8-0.9 s instead of
    2.4-2.9 s (generated instance, median of 2 each way)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    recomputed from the plan. A time limit counts from ``clock_started`` (a
    `time.monotonic`; None: now, so the build counts in it).
    """
    if clock_started is None:
        clock_started = time.monotonic()
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


@contextlib.contextmanager
def collecting_garbage(collect: bool) -> Iterator[Callable[[], None] | None]:
    """With ``collect``, a full garbage collection in a second thread once the function
    yielded is called, which `solve_compiled` does just before HiGHS runs. A dropped Pyomo
    model is freed only by the cycle collector (3.5M objects at 197k columns: 0.6-0.75
    s). The collector holds the GIL throughout, so it must start when HiGHS has released
    it (highspy's ``run()`` does): started any earlier, it kept the main thread waiting
    (0.75 s inside ``Thread.start`` at 197k columns, py-spy). Then it takes no time from
    the solve, and the memory is back before HiGHS's own peak."""
    if not collect:
        yield None
        return
    go = threading.Event()

    def collect_when_told() -> None:
        go.wait()
        gc.collect()

    thread = threading.Thread(target=collect_when_told, name="collect-model", daemon=True)
    thread.start()
    try:
        yield go.set
    finally:
        go.set()
        thread.join()


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
    beside = None
    if is_mip and options.marginal_values and duals is None and options.lp_beside:
        beside = start_lp_duals_beside(compiled, options.solver)
    try:
        with collecting_garbage(model is None) as before_run:
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
        violations=violations,
        timings=timings,
        versions=versions(),
        plan_source="highs" if plan is not None else None,
        bound_source="highs" if outcome.best_bound is not None else None,
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
    with collecting_garbage(model is None) as before_run:
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
        violations=run.violations,
        timings=timings,
        versions=versions(),
        plan_source=run.source,
        bound_source=run.bound_source,
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
        instance, RunOptions(options.solver, strict=False, marginal_values=False)
    )
    short: list[str] = []
    if elastic.plan is not None:
        from allocator.plan.tables import shortfall_racks

        shortfall = shortfall_racks(instance, elastic.plan)
        short = [f"internal_fill[{customer}]" for customer in shortfall.index[shortfall > 1e-6]]
    return InfeasibleError(short, "elastic re-solve with shortfall allowed")
