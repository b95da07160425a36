"""Solve the two-stage plan's extensive form with HiGHS and read back each scenario's plan.

The recourse problem (`allocator.model.extensive`) is compiled like any model and
solved in this process, or, with a time limit, in a child process stopped at its
deadline (`allocator.solver.anytime.solve_alone_by_deadline`; the anytime plans of a
plain solve know nothing of scenarios). Each scenario's plan is read from its block and
re-checked against the scenario's own instance (`allocator.plan.check`), its objective
recomputed from the plan, as for any solve; the recourse value ``rp`` is recomputed from
those plans too (`allocator.plan.first_stage.recourse_value`), not taken from HiGHS.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.errors import InfeasibleError
from allocator.model.coefficients import ModelOptions
from allocator.model.extensive import ScenarioModel, build_extensive, plan_components
from allocator.plan.check import check_plan
from allocator.plan.first_stage import recourse_value
from allocator.plan.tables import Plan, objective_terms
from allocator.solver.anytime import solve_alone_by_deadline
from allocator.solver.highs import (
    CompiledModel,
    SolveOutcome,
    SolverOptions,
    compile_model,
    irreducible_conflict,
    solve_compiled,
)
from allocator.solver.memory import collecting_garbage, gc_paused
from allocator.solver.pipeline import RunOptions, SolveResult, versions
from allocator.solver.results import component_values, extract_plan

FIRST_STAGE_SURPLUS = "first_stage_surplus"
FIRST_STAGE_DEAL = "first_stage_deal"


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

    @property
    def violations(self) -> list[str]:
        """Every scenario plan's re-check failures, prefixed by the scenario."""
        return [
            f"{name}: {violation}"
            for name, result in self.scenarios.items()
            for violation in result.violations
        ]


def solve_extensive(
    base: Instance,
    scenarios: Sequence[ScenarioModel],
    options: RunOptions,
    *,
    deals: bool,
    start: Mapping[str, Plan] | None = None,
) -> ExtensiveResult:
    """Build, solve and read back the recourse problem of ``scenarios`` (first stage:
    surplus, and deals when ``deals``). Raises `InfeasibleError` naming the conflicting
    rows (``scenario[w].internal_fill[c]``...) when it has no plan, which only strict
    mode can cause. ``start``: a plan per scenario with one first stage, HiGHS's MIP
    start (`allocator.model.extensive.build_extensive`)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    model_options = ModelOptions(strict=options.strict, relax=options.relax)
    with gc_paused():
        model = build_extensive(base, scenarios, model_options, deals=deals, start=start)
        components = {
            scenario.name: plan_components(model, scenario.name) for scenario in scenarios
        }
        timings["build"] = time.perf_counter() - started
        compiled = compile_model(model)
        timings["hand_off"] = compiled.compile_seconds
        model = None  # freed while HiGHS runs
        outcome = _solve(compiled, options.solver, integer=not options.relax)
    timings["highs"] = outcome.solve_seconds
    if outcome.values is None and outcome.termination.is_infeasible:
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
    )
    if outcome.values is not None:
        _read_back(result, base, scenarios, compiled, outcome.values, components, options, deals)
    timings["extract"] = time.perf_counter() - started
    return result


def _solve(compiled: CompiledModel, solver: SolverOptions, *, integer: bool) -> SolveOutcome:
    with collecting_garbage(True) as before_run:
        if solver.time_limit is not None:
            return solve_alone_by_deadline(compiled, solver, integer=integer, before_run=before_run)
        return solve_compiled(compiled, solver, integer=integer, before_run=before_run)


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
    result.surplus = surplus.sort_values(["product", "period"]).reset_index(drop=True)
    if deals:
        accepted = component_values(compiled, values, FIRST_STAGE_DEAL, integral=integral)
        third_party = base.customers.loc[base.customers["segment"] == "third_party", "customer"]
        result.deals = pd.Series(accepted, dtype=float).reindex(third_party, fill_value=0.0)
    outcome = result.outcome
    for scenario in scenarios:
        instance = scenario.instance
        plan = extract_plan(
            instance, compiled, values, integral=integral, components=components[scenario.name]
        )
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
