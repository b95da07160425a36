"""A time-limited solve that ends by its deadline and writes the best plan found by then.

With a time limit T the solve phase ends by T + max(5 s, 5% of T) (`Deadline`) after
the clock started (the caller says when: ``allocator solve`` starts it before reading the
instance, so reading, validating, building and handing the model over count in T),
whatever HiGHS is doing: HiGHS runs in a child process (`allocator.solver.child`) that
streams every improving incumbent and is killed at `Deadline.stop` (T plus half the
grace), the other half being left to read the plan back. The LP relaxation runs beside
it in a second child when a core is spare (else after the MIP in the same child): its
duals are the marginal values, its objective a bound, its solution the start of an
anytime plan. From half the time limit on, a thread of this process makes plans from
the model's structure (`allocator.plan.fill`): the LP relaxation rounded down and
repaired (`allocator.plan.repair.round_plan`) then filled greedily (``lp_rounding``), or,
while the LP is not there, the empty plan filled greedily (``greedy``). Each is
re-checked (`allocator.plan.check.check_plan`); when HiGHS has not proven optimality,
the best of its incumbent and these plans is written, with its gap against the tightest
of HiGHS's bound, the LP bound and, while the LP relaxation has not finished, the
Lagrangian bound that the same thread lowers after the greedy plan, towards the best
plan known (`allocator.solver.structured_bound`, prices on the shared rows only; for a
model with extensions `allocator.solver.bound`, prices on every row). Measured on a
generated 939k-column instance (``--regions 200 --buyers 2700 --periods 160 --seed 7``,
whose LP relaxation takes HiGHS alone 834-1,316 s) with ``--time-limit 300`` on an
otherwise idle 2-core machine: 314.1 s wall, the greedy plans at 187 s and 223 s, the
better 0.111% below the LP optimum and reported at gap 0.116% against the Lagrangian
bound after 85 s of steps, 0.0046% above the LP optimum (with prices on every row the
reported gap was 421%).

A run that HiGHS finishes before the deadline gives exactly the plan of an in-process
solve: the child solves the same arrays with the same options and start. Measured on a
generated 197k-column instance (``--regions 100 --buyers 900 --periods 96 --seed 7``):
the LP relaxation takes 29 s with simplex and 85 s with the IPM without crossover, so
the IPM is not used; the greedy plan from nothing takes 7.2 s (0.20% below the LP
bound), the LP rounded and filled 3 s (0.024% below it). The greedy plan is not given to
HiGHS as its start: from it HiGHS found the same incumbents as from shipping nothing
(base-2027, its variant with every max_delay 24 at 5 s, a 30k-column generated instance
at 20 s), and a solve that finishes must keep the start that gives today's plan.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from allocator.data.instance import Instance
from allocator.model.coefficients import ModelOptions, model_coefficients
from allocator.plan.check import check_plan
from allocator.plan.fill import Stopped, greedy_plans
from allocator.plan.tables import Plan, objective_terms
from allocator.solver.bound import descend
from allocator.solver.child import ChildOutcome, HighsChild
from allocator.solver.deadline import Deadline
from allocator.solver.highs import (
    CompiledModel,
    Solution,
    SolveOutcome,
    SolverOptions,
    Termination,
    child_task,
    maximizes,
    model_arrays,
    outcome_of,
    solve_compiled,
    start_lp_duals_beside,
)
from allocator.solver.lp_beside import OPTIMAL, DualsBeside
from allocator.solver.power_prices import exact_power_prices
from allocator.solver.progress import PlanFound, plans_found, relative_gap
from allocator.solver.results import extract_plan, lp_rounded_plan
from allocator.solver.structured_bound import descend as descend_priced
from allocator.solver.structured_bound import priced_rows

PLANS_FROM = 0.5
"""Share of the time limit after which the anytime plans are made: a solve that HiGHS
finishes sooner spends nothing on them."""
STOP_WAIT = 0.5
"""Seconds `_Plans.finish` waits for the thread after telling it to stop."""
LP_AFTER_MARGIN = 0.5
"""Seconds before `Deadline.stop` by which an LP solved after the MIP must end."""


@dataclass(kw_only=True)
class Anytime:
    """A solve by the deadline: HiGHS's outcome, the plan written and where it came from."""

    outcome: SolveOutcome
    plan: Plan | None = None
    source: str | None = None
    """``highs``, ``lp_rounding`` or ``greedy``."""
    objective_terms: dict[str, float] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    solver_objective: float | None = None
    best_bound: float | None = None
    bound_source: str | None = None
    """``highs``, ``lp_relaxation`` or ``lagrangian``: whose bound ``best_bound`` is."""
    mip_gap: float | None = None
    duals: np.ndarray | None = None
    """The LP relaxation's row duals (None unless it was solved to optimality)."""
    timings: dict[str, float] = field(default_factory=dict)
    plans_found: list[PlanFound] = field(default_factory=list)
    """Every plan that beat the best before it, in time order (`plans_found`)."""


@dataclass(frozen=True)
class _Candidate:
    source: str
    plan: Plan
    terms: dict[str, float]
    violations: list[str]
    found_at: float = field(default_factory=time.monotonic)

    @property
    def objective(self) -> float:
        return sum(self.terms.values())


class _Plans(threading.Thread):
    """Makes the anytime plans from ``begin`` (`time.monotonic`) on, until stopped."""

    def __init__(
        self,
        instance: Instance,
        compiled: CompiledModel,
        strict: bool,
        begin: float,
        relaxation: Callable[[], ChildOutcome | None],
        incumbent: Callable[[], float | None],
    ) -> None:
        super().__init__(name="anytime-plans", daemon=True)
        self.incumbent = incumbent
        self.instance = instance
        self.compiled = compiled
        self.strict = strict
        self.begin = begin
        self.relaxation = relaxation
        self.candidates: list[_Candidate] = []
        self.seconds = 0.0
        self.lagrangian: float | None = None
        """The best Lagrangian bound found while waiting for the LP relaxation."""
        self.lagrangian_seconds = 0.0
        self.error: str | None = None
        self.stopped = threading.Event()

    def run(self) -> None:
        if self.stopped.wait(max(self.begin - time.monotonic(), 0.0)):
            return
        try:
            rounded = self._round()
            if not rounded:
                started = time.perf_counter()
                for plan in greedy_plans(self.instance, self.stopped.is_set):
                    self.seconds += time.perf_counter() - started
                    self._add("greedy", plan)
                    started = time.perf_counter()
                rounded = self._descend()
            while not rounded and not self.stopped.wait(0.2):
                rounded = self._round()
        except Stopped:
            pass
        except Exception as error:  # a failed heuristic must not fail the solve
            self.error = f"{type(error).__name__}: {error}"

    def _round(self) -> bool:
        """The LP relaxation rounded and filled, once it is there; whether it was."""
        lp = self.relaxation()
        if lp is None:
            return False
        if lp.values is None or lp.model_status != OPTIMAL:
            return True  # no LP solution will come
        started = time.perf_counter()
        plan = lp_rounded_plan(self.instance, self.compiled, lp.values, self.stopped.is_set)
        self.seconds += time.perf_counter() - started
        self._add("lp_rounding", plan)
        return True

    def _descend(self) -> bool:
        """Lower a Lagrangian bound towards the best plan known until the LP relaxation
        comes (then it is rounded: whether it was) or the solve stops: the one with
        prices on the shared rows only (`allocator.solver.structured_bound`) for the
        contract's model, else the one with prices on every row
        (`allocator.solver.bound.descend`)."""
        started = time.perf_counter()
        numbers = model_coefficients(self.instance, ModelOptions(strict=self.strict))
        rows = priced_rows(numbers, self.instance.periods)
        steps: Iterator[float | None]
        if rows is not None and maximizes(self.compiled):
            power = functools.partial(exact_power_prices, stop=self.stopped.is_set)
            steps = descend_priced(rows, self._best_known, power_prices=power)
        else:
            steps = descend(
                model_arrays(self.compiled),
                maximize=maximizes(self.compiled),
                offset=float(self.compiled.lp.offset_),
                target=self._best_known,
            )
        for bound in steps:
            # read as it is when the solve stops (this thread may be mid-step then)
            self.lagrangian = bound
            self.lagrangian_seconds = time.perf_counter() - started
            if self.stopped.is_set() or self.relaxation() is not None:
                break
        return not self.stopped.is_set() and self._round()

    def _best_known(self) -> float | None:
        """The objective of the best plan known: HiGHS's incumbent or a checked plan."""
        known = [c.objective for c in self.candidates if not c.violations]
        incumbent = self.incumbent()
        if incumbent is not None:
            known.append(incumbent)
        if not known:
            return None
        return max(known) if maximizes(self.compiled) else min(known)

    def _add(self, source: str, plan: Plan) -> None:
        started = time.perf_counter()
        terms = objective_terms(self.instance, plan)
        violations = check_plan(self.instance, plan, strict=self.strict)
        self.candidates.append(_Candidate(source, plan, terms, violations))
        self.seconds += time.perf_counter() - started

    def finish(self, until: float) -> list[_Candidate]:
        """Wait for the plan being made until ``until``, then stop; the plans made."""
        self.join(max(until - time.monotonic(), 0.0))
        self.stopped.set()
        # a step or a region's LP in progress ends within moments: no HiGHS of this
        # thread should still run when the caller goes on
        self.join(STOP_WAIT)
        return list(self.candidates)


def solve_by_deadline(
    instance: Instance,
    compiled: CompiledModel,
    solver: SolverOptions,
    *,
    relax: bool,
    strict: bool,
    lp_wanted: bool,
    lp_beside: bool,
    plans: bool,
    before_run: Callable[[], None] | None = None,
    started: float | None = None,
) -> Anytime:
    """Solve with ``solver.time_limit`` as the module docstring says. ``lp_wanted``: solve
    the LP relaxation of a MIP too (marginal values, bound); ``lp_beside``: in a second
    process if a core is spare; ``plans``: make the anytime plans (the contract's model
    only: they know nothing of extensions). ``started``: the `time.monotonic` from which
    the time limit counts (reading and building the model included; None: now); HiGHS
    is given what is left of it."""
    assert solver.time_limit is not None
    deadline = Deadline.starting_now(solver.time_limit, started)
    began = time.monotonic()
    left = max(deadline.started + deadline.limit - began, 0.0)
    solver = dataclasses.replace(solver, time_limit=left)
    is_mip = not relax and bool(compiled.is_integer.any())
    beside: DualsBeside | None = None
    if is_mip and (lp_wanted or plans) and lp_beside:
        beside = start_lp_duals_beside(compiled, solver, any_size=True)
    lp_after = None
    if is_mip and (lp_wanted or plans) and beside is None:
        lp_after = deadline.stop - LP_AFTER_MARGIN - time.monotonic()
    task = child_task(compiled, solver, integer=not relax, duals=relax, lp_after=lp_after)
    try:
        child = HighsChild(task)
    except OSError:  # no process could be started: HiGHS in this process, no guarantee
        if beside is not None:
            beside.cancel()
        outcome = solve_compiled(
            compiled, solver, integer=not relax, duals=relax, before_run=before_run
        )
        return _read_back(instance, compiled, outcome, [], None, None, strict, relax)
    if before_run is not None:
        before_run()

    def relaxation() -> ChildOutcome | None:
        return beside.answer if beside is not None else child.lp

    makers = None
    if is_mip and plans:
        begin = deadline.started + PLANS_FROM * deadline.limit
        makers = _Plans(
            instance,
            compiled,
            strict,
            begin,
            relaxation,
            lambda: None if child.incumbent is None else child.incumbent.objective,
        )
        makers.start()
    timings: dict[str, float] = {}
    try:
        if not child.wait(deadline.stop):
            child.kill()  # stuck or slow: its last incumbent is what it found
        outcome = _outcome(child, deadline, began, is_mip=is_mip, relax=relax)
        waited = time.monotonic()
        timings["highs"] = waited - began  # in the child, with its start
        lp_needed = lp_wanted or outcome.termination != Termination.OPTIMAL
        if beside is not None and lp_needed:
            beside.relaxation(deadline.stop)
        elif lp_after is not None and lp_needed:
            child.wait(deadline.stop, lp=True)
        timings["lp_relaxation_wait"] = time.monotonic() - waited
        candidates: list[_Candidate] = []
        if makers is not None:
            if outcome.termination == Termination.OPTIMAL:
                makers.stopped.set()
            else:
                candidates = makers.finish(deadline.stop)
            timings["anytime_plans"] = makers.seconds
            if makers.lagrangian_seconds:
                timings["lagrangian_bound"] = makers.lagrangian_seconds
    finally:  # no child outlives the solve
        child.kill()
        if beside is not None:
            beside.cancel()
        if makers is not None:
            makers.stopped.set()
    started = time.perf_counter()
    lagrangian = makers.lagrangian if makers is not None else None
    result = _read_back(
        instance, compiled, outcome, candidates, relaxation(), lagrangian, strict, relax
    )
    timings["extract"] = time.perf_counter() - started
    result.timings.update(timings)
    if is_mip:
        found = [(at, objective, "highs") for at, objective in child.arrivals]
        found += [(c.found_at, c.objective, c.source) for c in candidates if not c.violations]
        result.plans_found = plans_found(found, deadline.started, maximize=maximizes(compiled))
    return result


def _outcome(
    child: HighsChild, deadline: Deadline, began: float, *, is_mip: bool, relax: bool
) -> SolveOutcome:
    """HiGHS's answer; without one (killed at the deadline, or died), its last incumbent."""
    if child.final is not None:
        return outcome_of(child.final, is_mip=is_mip, duals=relax)
    died = child.ended and time.monotonic() < deadline.stop
    incumbent = child.incumbent
    bound = child.bound if child.bound is not None and math.isfinite(child.bound) else None
    objective = None if incumbent is None else incumbent.objective
    return SolveOutcome(
        termination=Termination.ERROR if died else Termination.TIME_LIMIT,
        solution=Solution.NONE if incumbent is None else Solution.FEASIBLE,
        values=None if incumbent is None else incumbent.values,
        objective=objective,
        best_bound=bound,
        mip_gap=relative_gap(objective, bound),
        solve_seconds=time.monotonic() - began,
        highs_status=(
            f"HiGHS's process ended without an answer (exit code {child.exit_code})"
            if died
            else "stopped at the deadline (time limit + grace)"
        ),
    )


def _read_back(
    instance: Instance,
    compiled: CompiledModel,
    outcome: SolveOutcome,
    candidates: list[_Candidate],
    lp: ChildOutcome | None,
    lagrangian: float | None,
    strict: bool,
    relax: bool,
) -> Anytime:
    """HiGHS's plan, or a better anytime plan when HiGHS has not proven optimality, with
    its gap against the tightest bound: HiGHS's, the LP relaxation's or the Lagrangian."""
    result = Anytime(
        outcome=outcome,
        solver_objective=outcome.objective,
        best_bound=outcome.best_bound,
        bound_source="highs" if outcome.best_bound is not None else None,
        mip_gap=outcome.mip_gap,
        duals=outcome.row_duals,
    )
    lp_bound = None
    if lp is not None and lp.model_status == OPTIMAL and lp.has_solution:
        lp_bound = lp.objective
        result.duals = lp.row_duals
    best: _Candidate | None = None
    if outcome.values is not None:
        plan = extract_plan(instance, compiled, outcome.values, integral=not relax)
        terms = objective_terms(instance, plan)
        violations = check_plan(instance, plan, strict=strict, integral=not relax)
        best = _Candidate("highs", plan, terms, violations)
    if outcome.termination != Termination.OPTIMAL:
        for candidate in candidates:
            if candidate.violations:
                continue
            if best is None or best.violations or candidate.objective > best.objective:
                best = candidate
    if best is None:
        return result
    result.plan, result.source = best.plan, best.source
    result.objective_terms, result.violations = best.terms, best.violations
    if best.source != "highs":
        result.solver_objective = best.objective
    if outcome.termination == Termination.OPTIMAL or relax:
        return result
    maximize = maximizes(compiled)
    bounds = {
        source: bound
        for source, bound in (
            ("highs", outcome.best_bound),
            ("lp_relaxation", lp_bound),
            ("lagrangian", lagrangian),
        )
        if bound is not None and math.isfinite(bound)
    }
    if not bounds:
        return result
    pick = min if maximize else max
    source = pick(bounds, key=lambda name: bounds[name])
    tightest = bounds[source]
    if best.source != "highs" or source != "highs":
        result.best_bound, result.bound_source = tightest, source
        result.mip_gap = relative_gap(result.solver_objective, tightest)
    return result


def solve_alone_by_deadline(
    compiled: CompiledModel,
    solver: SolverOptions,
    *,
    integer: bool = True,
    before_run: Callable[[], None] | None = None,
    known_objective: float | None = None,
) -> SolveOutcome:
    """HiGHS alone in a child process, stopped by the deadline of ``solver.time_limit``
    and keeping its last incumbent: for a model that is not one instance's (the two-stage
    extensive form), so no LP beside it and no anytime plans. ``known_objective``: as
    for `allocator.solver.highs.solve_compiled`."""
    assert solver.time_limit is not None
    deadline = Deadline.starting_now(solver.time_limit)
    began = time.monotonic()
    task = child_task(
        compiled, solver, integer=integer, duals=not integer, known_objective=known_objective
    )
    try:
        child = HighsChild(task)
    except OSError:  # no process could be started: HiGHS in this process, no guarantee
        return solve_compiled(
            compiled,
            solver,
            integer=integer,
            duals=not integer,
            before_run=before_run,
            known_objective=known_objective,
        )
    if before_run is not None:
        before_run()
    try:
        if not child.wait(deadline.stop):
            child.kill()
        is_mip = integer and bool(compiled.is_integer.any())
        return _outcome(child, deadline, began, is_mip=is_mip, relax=not integer)
    finally:
        child.kill()
