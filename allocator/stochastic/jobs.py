"""The solves of a two-stage plan as jobs a Dask worker (or this process) runs, and their hashes.

Four kinds (`Job.kind`): ``recourse`` (the extensive form of every scenario:
`allocator.solver.extensive`), ``wait_and_see`` (one scenario alone, as a what-if
scenario: `allocator.whatif.scenarios.solve_scenario`), ``mean`` (the mean scenario
alone) and ``mean_first_stage`` (one scenario with the mean scenario's first stage
fixed: the EEV). Every job gets the base instance and rebuilds its scenario's instance
where it runs; no Pyomo model is shipped. A job's hash is what decides its result (the
base, the scenario's changes, the command's options, and for an EEV job the first stage
it fixes), so a rerun skips a job whose folder holds a marker with the same hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from allocator.data.instance import Instance
from allocator.errors import InfeasibleError
from allocator.model.extensive import ScenarioModel, fixed_first_stage, priced_first_stage
from allocator.plan.first_stage import first_stage_misfits, first_stage_surplus
from allocator.solver.deadline import ending_by
from allocator.solver.extensive import ExtensiveResult, solve_recourse
from allocator.solver.pipeline import RunOptions, solve_instance
from allocator.stochastic.scenario_file import StochasticScenario
from allocator.whatif.scenarios import (
    ScenarioOutcome,
    scenario_hash,
    scenario_instance,
    solve_scenario,
)

RECOURSE = "recourse"
WAIT_AND_SEE = "wait_and_see"
MEAN = "mean"
MEAN_FIRST_STAGE = "mean_first_stage"
SUBPROBLEM = "subproblem"
"""A scenario's subproblem of the decomposition (`allocator.stochastic.decomposition`)."""
CANDIDATE = "candidate"
"""A scenario with a candidate first stage of the decomposition fixed."""
FIRST_STAGE_MISFIT = "the mean scenario's first stage does not fit this scenario"
"""The ``conflict_method`` of an EEV job whose first stage is over the scenario's limits."""


@dataclass(frozen=True)
class FirstStage:
    """First-stage decisions: surplus racks (``product, period, racks``) and, when deals
    are in the first stage, each third-party deal accepted (0/1)."""

    surplus: pd.DataFrame
    deals: dict[str, float] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FirstStage:
        """The inverse of `as_dict`."""
        rows = []
        for key, racks in data["surplus"].items():
            product, _, period = key.rpartition(",")
            rows.append((product, int(period), racks))
        surplus = pd.DataFrame(rows, columns=["product", "period", "racks"]).astype(
            {"period": "int64", "racks": "float64"}
        )
        deals = data.get("deals")
        return cls(surplus, None if deals is None else {str(c): float(v) for c, v in deals.items()})

    def as_dict(self) -> dict[str, Any]:
        surplus = {
            f"{product},{period}": racks
            for (product, period), racks in sorted(first_stage_surplus(self.surplus).items())
        }
        return {
            "surplus": surplus,
            "deals": None if self.deals is None else dict(sorted(self.deals.items())),
        }


@dataclass(frozen=True)
class Job:
    """One solve: its kind, scenario (None for the recourse problem) and hash."""

    kind: str
    scenario: StochasticScenario | None
    key: str

    @property
    def label(self) -> str:
        return self.kind if self.scenario is None else f"{self.kind} {self.scenario.name}"


@dataclass
class JobOutcome:
    """What a job sends back: the what-if outcome of a one-scenario solve, or the
    extensive form's result; ``error`` when it raised."""

    job: Job
    outcome: ScenarioOutcome | None = None
    recourse: ExtensiveResult | None = None
    error: str | None = None
    seconds: float = 0.0
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")


def options_record(options: RunOptions) -> dict[str, Any]:
    """The options as hashed: not the HiGHS log switch, not where the LP is solved."""
    solver = dataclasses.asdict(options.solver)
    solver.pop("log", None)
    solver.pop("log_file", None)
    run = options.as_dict()
    run.pop("lp_beside", None)
    return {**run, "solver": solver}


def job_hash(kind: str, content: dict[str, Any]) -> str:
    text = json.dumps({"kind": kind, **content}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def scenario_job(
    kind: str, base: Instance, scenario: StochasticScenario, options: RunOptions, extra: Any = None
) -> Job:
    """A one-scenario job (wait-and-see, mean, or EEV with ``extra`` its first stage)."""
    content = {"scenario": scenario_hash(base, scenario.variant(), options), "first_stage": extra}
    return Job(kind, scenario, job_hash(kind, content))


def recourse_job(
    base: Instance,
    scenarios: Sequence[StochasticScenario],
    options: RunOptions,
    deals: bool,
    method: str = "extensive",
    iterations: int = 0,
) -> Job:
    content: dict[str, Any] = {
        "instance": base.content_hash,
        "scenarios": [
            [s.name, s.probability, s.variant().canonical_changes(base)] for s in scenarios
        ],
        "deals": deals,
        "options": options_record(options),
    }
    if method != "extensive":  # the extensive form's hash stays as it was
        content |= {"method": method, "iterations": iterations}
    return Job(RECOURSE, None, job_hash(RECOURSE, content))


def with_limit(options: RunOptions, seconds: float | None) -> RunOptions:
    """``options`` with this solve's share of the time limit (None: no limit)."""
    return dataclasses.replace(
        options,
        priority_cost=False,
        solver=dataclasses.replace(options.solver, time_limit=seconds),
    )


# --- the tasks, as a worker runs them --------------------------------------------------


def run_recourse(
    job: Job,
    base: Instance,
    scenarios: Sequence[StochasticScenario],
    options: RunOptions,
    deals: bool,
    ends_by: float | None,
) -> JobOutcome:
    """Solve the recourse problem of ``scenarios`` (`allocator.solver.extensive.solve_recourse`)."""
    started = time.perf_counter()
    try:
        with ending_by(ends_by):
            models = [
                ScenarioModel(s.name, s.probability, scenario_instance(base, s.variant()))
                for s in scenarios
            ]
            result = solve_recourse(base, models, options, deals=deals)
    except InfeasibleError as error:
        outcome = ScenarioOutcome(base, None, error.conflicts, error.method)
        return JobOutcome(job, outcome=outcome, seconds=time.perf_counter() - started)
    except Exception as error:  # a failed solve is a status, not the end of the run
        return JobOutcome(job, error=_describe(error), seconds=time.perf_counter() - started)
    return JobOutcome(job, recourse=result, seconds=time.perf_counter() - started)


def run_alone(job: Job, base: Instance, options: RunOptions, ends_by: float | None) -> JobOutcome:
    """Solve one scenario (or the mean scenario) alone."""
    assert job.scenario is not None
    started = time.perf_counter()
    try:
        with ending_by(ends_by):
            outcome = solve_scenario(base, job.scenario.variant(), options)
    except Exception as error:
        return JobOutcome(job, error=_describe(error), seconds=time.perf_counter() - started)
    return JobOutcome(job, outcome=outcome, seconds=time.perf_counter() - started)


def run_fixed(
    job: Job, base: Instance, options: RunOptions, first: FirstStage, ends_by: float | None
) -> JobOutcome:
    """Solve one scenario with ``first`` fixed; where it does not fit the scenario's
    limits (`first_stage_misfits`) there is no solve, and the outcome names why."""
    assert job.scenario is not None
    started = time.perf_counter()
    try:
        instance = scenario_instance(base, job.scenario.variant())
        misfits = first_stage_misfits(instance, first.surplus, first.deals)
        if misfits:
            outcome = ScenarioOutcome(instance, None, tuple(misfits), FIRST_STAGE_MISFIT)
        else:
            extend = fixed_first_stage(instance, first_stage_surplus(first.surplus), first.deals)
            with ending_by(ends_by):
                try:
                    result = solve_instance(instance, options, extend)
                    outcome = ScenarioOutcome(instance, result)
                except InfeasibleError as error:
                    outcome = ScenarioOutcome(instance, None, error.conflicts, error.method)
    except Exception as error:
        return JobOutcome(job, error=_describe(error), seconds=time.perf_counter() - started)
    seconds = time.perf_counter() - started
    outcome.seconds = seconds
    outcome.worker = f"{socket.gethostname()}:{os.getpid()}"
    return JobOutcome(job, outcome=outcome, seconds=seconds)


def run_subproblem(
    job: Job,
    base: Instance,
    options: RunOptions,
    price: dict[tuple[str, int], float],
    upper: dict[tuple[str, int], float],
    ends_by: float | None,
) -> JobOutcome:
    """Solve one scenario with its surplus racks priced by the decomposition's
    multipliers (`allocator.model.extensive.priced_first_stage`)."""
    assert job.scenario is not None
    started = time.perf_counter()
    try:
        instance = scenario_instance(base, job.scenario.variant())
        with ending_by(ends_by):
            result = solve_instance(instance, options, priced_first_stage(price, upper))
    except Exception as error:
        return JobOutcome(job, error=_describe(error), seconds=time.perf_counter() - started)
    seconds = time.perf_counter() - started
    return JobOutcome(
        job, outcome=ScenarioOutcome(instance, result, seconds=seconds), seconds=seconds
    )


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".strip()


def quiet(options: RunOptions) -> RunOptions:
    """Options for a worker beside others: no second process for the marginal-value LP."""
    return dataclasses.replace(options, lp_beside=False)
