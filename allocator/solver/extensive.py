"""Solve the two-stage plan's extensive form with HiGHS and read back each scenario's plan.

The recourse problem (`allocator.model.extensive`) is compiled like any model and
solved in this process, or, with a time limit, in a child process stopped at its
deadline (`allocator.solver.anytime.solve_alone_by_deadline`; the anytime plans of a
plain solve know nothing of scenarios). Each scenario's plan is read from its block and
re-checked against the scenario's own instance (`allocator.plan.check`), its objective
recomputed from the plan, as for any solve; the recourse value ``rp`` is recomputed from
those plans too (`allocator.plan.first_stage.recourse_value`), not taken from HiGHS.

Its MIP start (`lp_rounded_start`): the extensive form's LP relaxation, its first stage
rounded down (fewer surplus racks use fewer wafers and fit every limit the LP's did; a
deal is kept only where the LP accepts it whole), each scenario solved with that first
stage fixed. HiGHS's difficulty here is the primal side: on base-2027's five scenarios
its bound was within 3e-7 of the optimum after the root node (9 s), while from the
ship-nothing start its incumbent stayed 0.16% below until a sub-MIP found the optimum
after 62 s. The rounded start (0.9 s LP, five 2-10 s scenario solves) was 7e-6 below the
optimum, so HiGHS stops at the root once its bound is within the gap. The EEV's plans
(the mean scenario's first stage) were 4.7e-5 below: a start from them would make the
value of the stochastic solution (VSS = RP - EEV) read zero within the default gap.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.errors import InfeasibleError
from allocator.model.coefficients import ModelOptions
from allocator.model.extensive import (
    ScenarioModel,
    build_extensive,
    fixed_first_stage,
    plan_components,
)
from allocator.plan.check import check_plan
from allocator.plan.first_stage import first_stage_misfits, first_stage_surplus, recourse_value
from allocator.plan.tables import Plan, objective_terms
from allocator.solver.anytime import solve_alone_by_deadline
from allocator.solver.highs import (
    CompiledModel,
    Solution,
    SolveOutcome,
    SolverOptions,
    Termination,
    compile_model,
    irreducible_conflict,
    solve_compiled,
)
from allocator.solver.memory import collecting_garbage, gc_paused
from allocator.solver.pipeline import RunOptions, SolveResult, solve_instance, versions
from allocator.solver.progress import relative_gap
from allocator.solver.results import component_values, extract_plan

FIRST_STAGE_SURPLUS = "first_stage_surplus"
FIRST_STAGE_DEAL = "first_stage_deal"


@dataclass(frozen=True)
class RoundedStart:
    """`lp_rounded_start`'s two-stage plan: its first stage, a plan per scenario, their
    recourse value and the seconds it took."""

    surplus: pd.DataFrame
    """``product, period, racks`` (racks > 0)."""
    deals: pd.Series | None
    plans: dict[str, Plan]
    rp: float
    seconds: float


@dataclass(kw_only=True)
class ExtensiveResult:
    """The recourse problem solved: HiGHS's outcome, the first stage, and each scenario's
    plan as a `SolveResult` of its own instance (its objective that scenario's own)."""

    outcome: SolveOutcome
    surplus: pd.DataFrame
    """The first-stage surplus racks: ``product, period, racks`` (racks > 0)."""
    deals: pd.Series | None
    """The first-stage deals, customer -> accepted (0/1); None when deals are per scenario."""
    scenarios: dict[str, SolveResult]
    rp: float | None
    """The recourse value recomputed from the plans (None without a plan)."""
    columns: int
    rows: int
    timings: dict[str, float] = field(default_factory=dict)
    known: RoundedStart | None = None
    """The plan found outside HiGHS that it was measured against (`solve_extensive`)."""
    known_kept: bool = False
    """Whether that plan is the one read back (HiGHS found none as good)."""

    @property
    def violations(self) -> list[str]:
        """Every scenario plan's re-check failures, prefixed by the scenario."""
        return [
            f"{name}: {violation}"
            for name, result in self.scenarios.items()
            for violation in result.violations
        ]


def solve_recourse(
    base: Instance, scenarios: Sequence[ScenarioModel], options: RunOptions, *, deals: bool
) -> ExtensiveResult:
    """The recourse problem as ``allocator stochastic`` solves it: `lp_rounded_start`'s
    plan (not for ``--relax``), then the extensive form measured against it with what is
    left of the time limit."""
    started = time.perf_counter()
    known = None if options.relax else lp_rounded_start(base, scenarios, options, deals=deals)
    limit = options.solver.time_limit
    if limit is not None:  # what the rounded plan took, found or not
        left = max(limit - (time.perf_counter() - started), 0.0)
        options = dataclasses.replace(
            options, solver=dataclasses.replace(options.solver, time_limit=left)
        )
    return solve_extensive(base, scenarios, options, deals=deals, known=known)


def solve_extensive(
    base: Instance,
    scenarios: Sequence[ScenarioModel],
    options: RunOptions,
    *,
    deals: bool,
    known: RoundedStart | None = None,
) -> ExtensiveResult:
    """Build, solve and read back the recourse problem of ``scenarios`` (first stage:
    surplus, and deals when ``deals``). Raises `InfeasibleError` naming the conflicting
    rows (``scenario[w].internal_fill[c]``...) when it has no plan, which only strict
    mode can cause. ``known``: a two-stage plan found outside HiGHS (`lp_rounded_start`);
    HiGHS, from the ship-nothing start as always, is interrupted once its bound is within
    the gap of it, and the better of its plan and ``known`` is read back. ``known`` is
    not HiGHS's start: with an incumbent that close HiGHS's root node took 23-38 s on
    base-2027's five scenarios instead of 9.5 s (its cut rounds slow down under the cutoff;
    with ship nothing the next incumbent is 0.87% below)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    model_options = ModelOptions(strict=options.strict, relax=options.relax)
    with gc_paused():
        model = build_extensive(base, scenarios, model_options, deals=deals)
        components = {
            scenario.name: plan_components(model, scenario.name) for scenario in scenarios
        }
        timings["build"] = time.perf_counter() - started
        compiled = compile_model(model)
        timings["hand_off"] = compiled.compile_seconds
        model = None  # freed while HiGHS runs
        integer = not options.relax
        known_rp = None if known is None or not integer else known.rp
        outcome = _solve(compiled, options.solver, integer=integer, known=known_rp)
    timings["highs"] = outcome.solve_seconds
    keep_known = known_rp is not None and (
        outcome.values is None or outcome.objective is None or outcome.objective < known_rp
    )
    if outcome.values is None and outcome.termination.is_infeasible and not keep_known:
        conflicts = irreducible_conflict(compiled, options.solver) or []
        raise InfeasibleError(conflicts, "IIS of the extensive form's LP relaxation (HiGHS)")
    started = time.perf_counter()
    result = ExtensiveResult(
        outcome=outcome,
        surplus=pd.DataFrame({"product": [], "period": [], "racks": []}),
        deals=None,
        scenarios={},
        rp=None,
        columns=int(compiled.lp.num_col_),
        rows=int(compiled.lp.num_row_),
        timings=timings,
        known=known,
        known_kept=keep_known,
    )
    if keep_known and known is not None:
        result.outcome = _outcome_of_known(outcome, known.rp, options.solver.mip_gap)
        _fill(result, base, scenarios, known.surplus, known.deals, known.plans, options)
    elif outcome.values is not None:
        _read_back(result, base, scenarios, compiled, outcome.values, components, options, deals)
    timings["extract"] = time.perf_counter() - started
    return result


def lp_rounded_start(
    base: Instance,
    scenarios: Sequence[ScenarioModel],
    options: RunOptions,
    *,
    deals: bool,
) -> RoundedStart | None:
    """A two-stage plan for the recourse problem (see the module docstring): the LP
    relaxation's first stage rounded down, then each scenario solved with it fixed. None
    when a scenario has no plan with it (strict mode, a deal's minimum out of reach) or
    when, under a time limit, half of it is spent first: the LP relaxation may take a
    quarter of the limit, the scenarios share what is left of the half equally."""
    started = time.perf_counter()
    limit = options.solver.time_limit
    inner = dataclasses.replace(options, marginal_values=False, lp_beside=False)

    def share(solves_left: int) -> float | None:
        if limit is None:
            return None
        return (limit / 2 - (time.perf_counter() - started)) / solves_left

    def limited(seconds: float | None, **changes: bool) -> RunOptions:
        solver = dataclasses.replace(options.solver, time_limit=seconds)
        return dataclasses.replace(inner, solver=solver, **changes)

    seconds = None if limit is None else limit / 4
    relaxed = solve_extensive(base, scenarios, limited(seconds, relax=True), deals=deals)
    if relaxed.rp is None:
        return None
    surplus = relaxed.surplus.assign(racks=np.floor(relaxed.surplus["racks"] + 1e-6))
    fixed_deals = None
    if deals and relaxed.deals is not None:
        fixed_deals = {str(c): float(v >= 1 - 1e-6) for c, v in relaxed.deals.items()}
    plans: dict[str, Plan] = {}
    terms = []
    for left, scenario in enumerate(scenarios):
        seconds = share(len(scenarios) - left)
        if seconds is not None and seconds <= 0:
            return None
        if first_stage_misfits(scenario.instance, surplus, fixed_deals):
            return None  # a relaxation stopped by its time limit, not at a solution
        extend = fixed_first_stage(scenario.instance, first_stage_surplus(surplus), fixed_deals)
        try:
            solved = solve_instance(scenario.instance, limited(seconds), extend)
        except InfeasibleError:
            return None
        if solved.plan is None or solved.violations:
            return None
        plans[scenario.name] = solved.plan
        terms.append((scenario.probability, solved.objective_terms))
    surplus = surplus.loc[surplus["racks"] > 0].astype({"racks": "int64"})
    accepted = None if fixed_deals is None else pd.Series(fixed_deals, dtype=float)
    rp = recourse_value(base, surplus, terms)
    return RoundedStart(surplus, accepted, plans, rp, time.perf_counter() - started)


def _solve(
    compiled: CompiledModel, solver: SolverOptions, *, integer: bool, known: float | None
) -> SolveOutcome:
    with collecting_garbage(True) as before_run:
        if solver.time_limit is not None:
            return solve_alone_by_deadline(
                compiled, solver, integer=integer, before_run=before_run, known_objective=known
            )
        return solve_compiled(
            compiled, solver, integer=integer, before_run=before_run, known_objective=known
        )


def _outcome_of_known(outcome: SolveOutcome, objective: float, gap: float) -> SolveOutcome:
    """HiGHS's ``outcome`` with the known plan's ``objective`` in place of its incumbent:
    optimal when HiGHS's bound is within ``gap`` of it."""
    found_gap = relative_gap(objective, outcome.best_bound)
    within = found_gap is not None and found_gap <= gap
    return dataclasses.replace(
        outcome,
        termination=Termination.OPTIMAL if within else outcome.termination,
        solution=Solution.OPTIMAL if within else Solution.FEASIBLE,
        values=None,
        objective=objective,
        mip_gap=found_gap,
    )


def _read_back(
    result: ExtensiveResult,
    base: Instance,
    scenarios: Sequence[ScenarioModel],
    compiled: CompiledModel,
    values: np.ndarray,
    components: dict[str, dict[str, str]],
    options: RunOptions,
    deals: bool,
) -> None:
    integral = not options.relax
    first = component_values(compiled, values, FIRST_STAGE_SURPLUS, integral=integral)
    surplus = pd.DataFrame(
        [(product, period, racks) for (product, period), racks in first.items() if racks > 0],
        columns=["product", "period", "racks"],
    ).astype({"period": "int64", "racks": "int64" if integral else "float64"})
    accepted = None
    if deals:
        chosen = component_values(compiled, values, FIRST_STAGE_DEAL, integral=integral)
        third_party = base.customers.loc[base.customers["segment"] == "third_party", "customer"]
        accepted = pd.Series(chosen, dtype=float).reindex(third_party, fill_value=0.0)
    plans = {
        scenario.name: extract_plan(
            scenario.instance,
            compiled,
            values,
            integral=integral,
            components=components[scenario.name],
        )
        for scenario in scenarios
    }
    _fill(result, base, scenarios, surplus, accepted, plans, options)


def _fill(
    result: ExtensiveResult,
    base: Instance,
    scenarios: Sequence[ScenarioModel],
    surplus: pd.DataFrame,
    deals: pd.Series | None,
    plans: Mapping[str, Plan],
    options: RunOptions,
) -> None:
    """The result's first stage, each scenario's re-checked plan and the recourse value."""
    integral = not options.relax
    result.surplus = surplus.sort_values(["product", "period"]).reset_index(drop=True)
    result.deals = deals
    outcome = result.outcome
    for scenario in scenarios:
        instance = scenario.instance
        plan = plans[scenario.name]
        terms = objective_terms(instance, plan)
        result.scenarios[scenario.name] = SolveResult(
            instance=instance,
            options=options,
            termination=outcome.termination,
            solution=outcome.solution,
            plan=plan,
            objective=sum(terms.values()),
            objective_terms=terms,
            solver_objective=None,
            best_bound=None,
            mip_gap=None,
            marginal_values=None,
            marginal_values_source=None,
            violations=check_plan(instance, plan, strict=options.strict, integral=integral),
            timings={},
            versions=versions(),
            plan_source="extensive_form",
            bound_source=None,
        )
    result.rp = recourse_value(
        base,
        result.surplus,
        [
            (scenario.probability, result.scenarios[scenario.name].objective_terms)
            for scenario in scenarios
        ],
    )
