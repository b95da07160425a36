"""The recourse problem by scenario decomposition: Lagrangian bounds and evaluated first stages.

For many scenarios the extensive form outgrows one machine (benchmarks/README.md). Here
every solve is one scenario's, so they spread over a Dask cluster like the wait-and-see
solves. It is progressive hedging without its quadratic proximal term (HiGHS solves no
MIQP): the non-anticipativity rows s_w = s are relaxed with multipliers lambda_w
(sum_w prob(w) * lambda_w = 0), and each iteration

1. solves every scenario w with each surplus rack priced at lambda_w[p,t] minus the base
   instance's surplus_cost[p,t] (`allocator.model.extensive.priced_first_stage`; within the
   first stage's bound, 0 off its columns). The probability-weighted sum of their best
   bounds is an upper bound on RP (a Lagrangian bound, valid for any such lambda and
   within each solve's MIP gap); at lambda = 0 it is the wait-and-see value at the base
   instance's surplus costs;
2. rounds the consensus s_bar = sum_w prob(w) * s_w to whole racks that fit every
   scenario's limits (`fit_first_stage`) and evaluates it: every scenario solved with it
   fixed, its recourse value a lower bound (a plan that can be carried out); so too the
   most probable scenario's own choice s_w not evaluated yet. The mean scenario's first
   stage (the EEV) is a candidate from the start;
3. moves lambda_w by -rho * (s_w - s_bar) (which keeps sum_w prob(w) * lambda_w = 0):
   Polyak's step rho = step * (bound - best plan) / sum_w prob(w) * |s_w - s_bar|^2
   once a plan is known, before that rho[p,t] = step * STEP * surplus_cost[p,t] /
   max(1, bound[p,t]) (progressive hedging's cost-proportional rho); step starts at 1
   and halves when the bound did not improve.

It stops when the gap between the best bound and the best plan is within ``--mip-gap``,
when every scenario chose the same first stage (each subproblem solved to its gap: a
subproblem stopped by its share of the time limit proves nothing by agreeing), after
``--iterations``, or when the time limit is spent. Deals stay second-stage decisions here.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from allocator.data.instance import Instance
from allocator.model.coefficients import ModelOptions, first_stage_numbers, model_coefficients
from allocator.plan.first_stage import recourse_value
from allocator.solver.highs import Termination
from allocator.solver.pipeline import RunOptions
from allocator.stochastic.executor import Budget, Submit
from allocator.stochastic.jobs import (
    CANDIDATE,
    SUBPROBLEM,
    FirstStage,
    Job,
    JobOutcome,
    run_fixed,
    run_subproblem,
    with_limit,
)
from allocator.stochastic.scenario_file import StochasticScenario
from allocator.whatif.scenarios import ScenarioOutcome

STEP = 0.2
"""The multiplier step before any plan is known, as a share of a rack's surplus cost per
rack of disagreement."""
CHOICES = 1
"""Scenario choices evaluated per iteration besides the consensus: those of the most
probable scenarios whose first stage has not been evaluated yet."""
Key = tuple[str, int]


@dataclass
class Candidate:
    """A first stage evaluated in every scenario: its recourse value and plans."""

    surplus: dict[Key, int]
    value: float | None = None
    outcomes: dict[str, ScenarioOutcome] | None = None
    source: str = ""


@dataclass
class Decomposition:
    """The decomposition's answer: the best candidate, the best bound, each iteration."""

    best: Candidate | None
    bound: float | None
    iterations: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = ""

    @property
    def gap(self) -> float | None:
        if self.best is None or self.best.value is None or self.bound is None:
            return None
        return abs(self.bound - self.best.value) / max(abs(self.best.value), 1e-9)


def answer_within(gap: float | None, mip_gap: float) -> bool:
    """Whether a decomposition's gap is within ``mip_gap`` (or 1e-9, rounding's share)."""
    return gap is not None and gap <= max(mip_gap, 1e-9)


def fit_first_stage(
    surplus: dict[Key, float], upper: dict[Key, int], instances: Sequence[Instance]
) -> dict[Key, int]:
    """``surplus`` rounded to whole racks within ``upper``, then cut (a rack at a time,
    from the product using most wafers in the period) until it fits every scenario's
    surplus wafers."""
    racks = {key: min(math.floor(value + 0.5), upper[key]) for key, value in surplus.items()}
    racks = {key: value for key, value in racks.items() if value > 0}
    for instance in instances:
        wafers_per_rack = instance.products.set_index("product")["wafers_per_rack"].to_dict()
        for period in sorted({t for _, t in racks}):
            offered = float(instance.surplus_wafers.get(period, 0.0))
            keys = [key for key in racks if key[1] == period]
            while (
                keys and sum(wafers_per_rack[p] * racks[(p, t)] for p, t in keys) > offered + 1e-9
            ):
                cut = max(keys, key=lambda key: (wafers_per_rack[key[0]], racks[key]))
                racks[cut] -= 1
                if racks[cut] == 0:
                    del racks[cut]
                    keys.remove(cut)
    return racks


def _frame(surplus: dict[Key, float]) -> pd.DataFrame:
    rows = [(product, period, racks) for (product, period), racks in sorted(surplus.items())]
    return pd.DataFrame(rows, columns=["product", "period", "racks"]).astype(
        {"period": "int64", "racks": "float64"}
    )


def decompose(
    base: Instance,
    scenarios: Sequence[StochasticScenario],
    instances: Sequence[Instance],
    options: RunOptions,
    submit: Submit,
    completed: Callable[[], Iterator[JobOutcome]],
    budget: Budget,
    *,
    iterations: int,
    seed: Candidate | None = None,
) -> Decomposition:
    """Run the decomposition (see the module docstring) on the executor given;
    ``seed``: a first stage already evaluated (the mean scenario's), whose plans are
    made at the end only if it stays the best."""
    started = time.perf_counter()
    # no marginal-value LP after each solve (the extensive form's plans have none either)
    options = dataclasses.replace(options, marginal_values=False)
    numbers = [
        model_coefficients(instance, ModelOptions(strict=options.strict, relax=options.relax))
        for instance in instances
    ]
    first = first_stage_numbers(base, numbers, deals=False)
    keys: list[Key] = list(first.surplus.keys)
    upper = dict(zip(keys, first.surplus["upper"].tolist(), strict=True))
    cost = dict(zip(keys, (-first.surplus["cost"]).tolist(), strict=True))
    probability = {s.name: s.probability for s in scenarios}
    multipliers = {s.name: dict.fromkeys(keys, 0.0) for s in scenarios}
    result = Decomposition(
        best=seed if seed is not None and seed.value is not None else None, bound=None
    )
    tried = {tuple(sorted(seed.surplus.items()))} if seed is not None else set()
    step = 1.0
    weights_left = float(2 * len(scenarios) * iterations)
    for iteration in range(iterations):
        if budget.spent:
            result.stopped = "time_limit"
            break
        priced = with_limit(options, budget.share(1, weights_left))
        for scenario in scenarios:
            price = {key: multipliers[scenario.name][key] - cost[key] for key in keys}
            job = Job(SUBPROBLEM, scenario, f"{iteration}-{scenario.name}")
            submit(job, run_subproblem, base, priced, price, upper, budget.ends_by)
        solved = _answers(completed)
        weights_left = max(weights_left - len(scenarios), 1.0)
        choices, bounds, statuses = {}, {}, {}
        for name, outcome in solved.items():
            answer = None if outcome is None else outcome.result
            if answer is None or answer.plan is None or answer.best_bound is None:
                result.stopped = "a subproblem has no plan or bound"
                break
            statuses[name] = answer.status
            bounds[name] = float(answer.best_bound)
            made = answer.plan.surplus
            choices[name] = {
                (str(p), int(t)): float(r)
                for p, t, r in zip(made["product"], made["period"], made["racks"], strict=True)
            }
        if result.stopped:
            break
        bound = sum(probability[name] * bounds[name] for name in probability)
        improved = result.bound is None or bound < result.bound - 1e-9
        result.bound = bound if result.bound is None else min(result.bound, bound)
        consensus = {
            key: sum(probability[name] * choices[name].get(key, 0.0) for name in probability)
            for key in keys
        }
        candidates = [
            Candidate(fit_first_stage(consensus, upper, instances), source=f"iteration {iteration}")
        ]
        for scenario in sorted(scenarios, key=lambda s: -s.probability):
            own = Candidate(
                fit_first_stage(choices[scenario.name], upper, instances),
                source=f"iteration {iteration}, {scenario.name}'s choice",
            )
            if len(candidates) > CHOICES:
                break
            if tuple(sorted(own.surplus.items())) not in tried:
                candidates.append(own)
        for candidate in candidates:
            marker = tuple(sorted(candidate.surplus.items()))
            if marker in tried:
                continue
            tried.add(marker)
            _evaluate(candidate, base, scenarios, options, submit, completed, budget, weights_left)
            weights_left = max(weights_left - len(scenarios), 1.0)
            if candidate.value is not None and (
                result.best is None
                or result.best.value is None
                or candidate.value > result.best.value
            ):
                result.best = candidate
        agree = agreed(choices, statuses)
        result.iterations.append(
            {
                "iteration": iteration,
                "bound": bound,
                "best_bound": result.bound,
                "candidates": {c.source: c.value for c in candidates if c.value is not None},
                "best": None if result.best is None else result.best.value,
                "gap": result.gap,
                "step": step,
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
        gap = result.gap
        if answer_within(gap, options.solver.mip_gap):
            result.stopped = "gap"
            break
        if agree:
            result.stopped = "consensus"
            break
        if not improved:
            step /= 2
        spread = {
            name: {key: choices[name].get(key, 0.0) - consensus[key] for key in keys}
            for name in probability
        }
        squares = sum(
            probability[name] * sum(value * value for value in spread[name].values())
            for name in probability
        )
        best_value = None if result.best is None else result.best.value
        for name in probability:
            for key in keys:
                if best_value is not None and squares > 0:  # Polyak's step towards the plan
                    rho = step * max(bound - best_value, 0.0) / squares
                else:
                    rho = step * STEP * cost[key] / max(1.0, float(upper[key]))
                multipliers[name][key] -= rho * spread[name][key]
    else:
        result.stopped = "iterations"
    best = result.best
    if best is not None and best.outcomes is None:
        _evaluate(best, base, scenarios, options, submit, completed, budget, 1.0)
    return result


def _answers(completed: Callable[[], Iterator[JobOutcome]]) -> dict[str, ScenarioOutcome | None]:
    """Each submitted job's outcome by scenario, once all have finished."""
    answers: dict[str, ScenarioOutcome | None] = {}
    for done in completed():
        assert done.job.scenario is not None
        answers[done.job.scenario.name] = done.outcome
    return answers


def _evaluate(
    candidate: Candidate,
    base: Instance,
    scenarios: Sequence[StochasticScenario],
    options: RunOptions,
    submit: Submit,
    completed: Callable[[], Iterator[JobOutcome]],
    budget: Budget,
    weights_left: float,
) -> None:
    """Every scenario with ``candidate`` fixed: its recourse value and plans (None
    when some scenario has no plan with it)."""
    first = FirstStage(_frame({key: float(v) for key, v in candidate.surplus.items()}))
    limit = budget.share(1, weights_left)
    for scenario in scenarios:
        job = Job(CANDIDATE, scenario, f"{candidate.source}-{scenario.name}")
        submit(job, run_fixed, base, with_limit(options, limit), first, budget.ends_by)
    answers = _answers(completed)
    terms = []
    for scenario in scenarios:
        outcome = answers.get(scenario.name)
        if (
            outcome is None
            or outcome.result is None
            or outcome.result.plan is None
            or outcome.result.violations
        ):
            candidate.value = None
            return
        terms.append((scenario.probability, outcome.result.objective_terms))
    candidate.value = recourse_value(base, first.surplus, terms)
    candidate.outcomes = {name: outcome for name, outcome in answers.items() if outcome is not None}


def agreed(choices: dict[str, dict[Key, float]], statuses: dict[str, Termination]) -> bool:
    """Whether every scenario's subproblem chose the same first stage, each solved to its
    gap: a subproblem stopped by its share of the time limit proves nothing by agreeing
    (at 100 scenarios of M every 6-second subproblem kept the ship-nothing first stage)."""
    first = next(iter(choices.values()), None)
    return all(status == Termination.OPTIMAL for status in statuses.values()) and all(
        choice == first for choice in choices.values()
    )
