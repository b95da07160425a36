"""Running a two-stage plan: the recourse problem, wait-and-see and EEV solves, resumable.

`run_stochastic` (``allocator stochastic``) makes the jobs (`allocator.stochastic.jobs`),
takes those already done from their markers (a rerun resumes and solves nothing twice),
and runs the rest in this process or on Dask (`allocator.whatif.executors.dask_client`: a
local cluster, or a team's at ``--scheduler``): the extensive form of the recourse
problem, each scenario alone, and the mean scenario alone; once the mean scenario is
solved, each scenario with its first stage fixed. On Dask the extensive form is
submitted first and runs beside the one-scenario solves. Each result is written as it
arrives (`allocator.stochastic.folder`), then ``scenario_results.csv`` and
``stochastic.json`` (`allocator.stochastic.figures`).

With a time limit T the command holds it as a whole: every HiGHS it starts is stopped
by T + max(5 s, 5% T) / 2 (`allocator.solver.deadline.ending_by`), and each solve's own
limit is its share of the time left when it is handed out (the extensive form weighs as
many one-scenario solves as it has scenarios; solves run side by side share by the
number of workers).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from allocator.atomic import write_json_atomically
from allocator.data.instance import Instance
from allocator.plan.first_stage import surplus_cost
from allocator.solver.pipeline import RunOptions, versions
from allocator.stochastic.decomposition import Candidate, Decomposition, answer_within, decompose
from allocator.stochastic.executor import Budget, executor
from allocator.stochastic.figures import planner_words, two_stage_figures
from allocator.stochastic.folder import (
    FOLDERS,
    RESULTS_FILE,
    SCENARIOS_FOLDER,
    STOCHASTIC_FILE,
    StochasticFolder,
    first_stage_frame,
    write_csv,
)
from allocator.stochastic.jobs import (
    MEAN,
    MEAN_FIRST_STAGE,
    RECOURSE,
    WAIT_AND_SEE,
    FirstStage,
    Job,
    JobOutcome,
    recourse_job,
    run_alone,
    run_fixed,
    run_recourse,
    scenario_job,
    with_limit,
)
from allocator.stochastic.scenario_file import ScenarioSet
from allocator.whatif.scenarios import ScenarioOutcome, scenario_instance

EXTENSIVE = "extensive"
DECOMPOSITION = "decomposition"
METHODS = (EXTENSIVE, DECOMPOSITION)

OnDone = Callable[[Job, dict[str, Any], bool], None]
"""Called with each job, its row, and whether it was solved now (False: resumed)."""


@dataclass
class StochasticReport:
    """What a run did: the figures of ``stochastic.json`` and the per-solve table."""

    out_dir: Path
    record: dict[str, Any]
    table: pd.DataFrame
    solved: int
    skipped: int
    errors: int
    seconds: float


def run_stochastic(
    base: Instance,
    source: str,
    out_dir: Path,
    scenario_set: ScenarioSet,
    options: RunOptions,
    *,
    deals: bool = False,
    workers: int = 1,
    scheduler: str | None = None,
    on_done: OnDone | None = None,
    method: str = EXTENSIVE,
    iterations: int = 10,
) -> StochasticReport:
    """Solve (or finish) the two-stage plan of ``scenario_set`` into ``out_dir``; see the
    module docstring. ``deals``: the deals are first-stage decisions too. ``method``:
    the recourse problem as one extensive form, or by scenario decomposition
    (`allocator.stochastic.decomposition`, at most ``iterations``; surplus only)."""
    started = time.perf_counter()
    scenarios = scenario_set.scenarios
    probability = {s.name: s.probability for s in scenarios}
    mean = scenario_set.mean(base)
    folder = StochasticFolder(out_dir, source)
    recourse = recourse_job(base, scenarios, options, deals, method, iterations)
    decomposed = method == DECOMPOSITION
    first_jobs = [recourse, *(scenario_job(WAIT_AND_SEE, base, s, options) for s in scenarios)]
    mean_job = scenario_job(MEAN, base, mean, options)
    first_jobs.append(mean_job)
    done: dict[str, dict[str, Any]] = {}
    counts = {"solved": 0, "skipped": 0}

    def record(job: Job, data: dict[str, Any], solved: bool) -> None:
        done[job.key] = data
        counts["solved" if solved else "skipped"] += 1
        if on_done is not None:
            on_done(job, data["row"], solved)

    def fixed_jobs() -> list[Job]:
        first = done[mean_job.key].get("first_stage")
        if first is None:
            return []
        return [scenario_job(MEAN_FIRST_STAGE, base, s, options, first) for s in scenarios]

    weights = {job.key: (len(scenarios) if job.kind == RECOURSE else 1) for job in first_jobs}
    pending = []
    for job in first_jobs:
        data = folder.done_row(job)
        if data is not None:
            record(job, data, False)
        elif not (decomposed and job.kind == RECOURSE):
            pending.append(job)
    eev_jobs: list[Job] = []
    if mean_job.key in done:
        eev_jobs = fixed_jobs()
        for job in eev_jobs:
            data = folder.done_row(job)
            if data is None:
                pending.append(job)
            else:
                record(job, data, False)
    weights_left = sum(weights.get(job.key, 1) for job in pending)
    if mean_job.key not in done:
        weights_left += len(scenarios)  # the EEV solves, handed out after the mean's

    decomposing = decomposed and recourse.key not in done
    jobs = len(pending) + (len(scenarios) if decomposing else 0)
    with executor(base, workers, scheduler, jobs) as (submit, completed, slots):
        budget = Budget(options.solver.time_limit, slots)
        state = {"weights_left": weights_left}

        def hand_out(job: Job) -> None:
            weight = weights.get(job.key, 1)
            limit = budget.share(weight, state["weights_left"])
            state["weights_left"] -= weight
            job_options = with_limit(options, limit)
            if job.kind == RECOURSE:
                submit(job, run_recourse, base, scenarios, job_options, deals, budget.ends_by)
            elif job.kind == MEAN_FIRST_STAGE:
                first = FirstStage.from_dict(done[mean_job.key]["first_stage"])
                submit(job, run_fixed, base, job_options, first, budget.ends_by)
            else:
                submit(job, run_alone, base, job_options, budget.ends_by)

        for job in pending:
            hand_out(job)
        for outcome in completed():
            job = outcome.job
            record(job, _write(folder, outcome, deals), True)
            if job.key == mean_job.key:
                eev_jobs = fixed_jobs()
                if not eev_jobs:
                    state["weights_left"] -= len(scenarios)
                for eev in eev_jobs:
                    data = folder.done_row(eev)
                    if data is None:
                        hand_out(eev)
                    else:
                        record(eev, data, False)
        if decomposing:
            seed = _seed(base, probability, done, first_jobs, mean_job, eev_jobs)
            answer = decompose(
                base,
                scenarios,
                [scenario_instance(base, s.variant()) for s in scenarios],
                options,
                submit,
                completed,
                budget,
                iterations=iterations,
                seed=seed,
            )
            record(
                recourse,
                _write_decomposition(folder, recourse, answer, options.solver.mip_gap),
                True,
            )

    rows = _rows(done, recourse, first_jobs[1:-1], mean_job, eev_jobs)
    table = pd.DataFrame(rows)
    write_csv(out_dir / RESULTS_FILE, table)
    recourse_data = done.get(recourse.key)
    figures = _figures(base, probability, recourse_data, done, first_jobs, mean_job, eev_jobs)
    first_stage = first_stage_frame((recourse_data or {}).get("first_stage", {}).get("surplus", {}))
    words = planner_words(figures, first_stage, base.settings.currency, base.period_labels)
    data = {
        "instance": {
            "name": base.name,
            "source": source,
            "content_hash": base.content_hash,
            "periods": base.periods,
            "start": base.settings.start,
        },
        "scenarios_file": scenario_set.source,
        "first_stage": "surplus,deals" if deals else "surplus",
        "currency": base.settings.currency,
        **figures,
        "eev_infeasible_reasons": _misfits(done, eev_jobs),
        "summary": words,
        "scenarios": [
            {
                "scenario": s.name,
                "probability": s.probability,
                "changes": {target.name: value for target, value in s.changes},
            }
            for s in scenarios
        ],
        "mean_scenario": {target.name: value for target, value in mean.changes},
        "first_stage_surplus_racks": float(first_stage["racks"].sum()) if len(first_stage) else 0.0,
        "solves": rows,
        "recourse": {key: value for key, value in ((recourse_data or {}).get("row") or {}).items()},
        "options": options.as_dict(),
        "versions": versions(),
        "seconds": round(time.perf_counter() - started, 3),
    }
    write_json_atomically(out_dir / STOCHASTIC_FILE, data)
    folder.remove_others(
        {
            SCENARIOS_FOLDER: probability,
            FOLDERS[WAIT_AND_SEE]: probability,
            FOLDERS[MEAN_FIRST_STAGE]: probability,
        }
    )
    errors = sum(1 for row in rows if row.get("status") == "error")
    return StochasticReport(
        out_dir,
        data,
        table,
        counts["solved"],
        counts["skipped"],
        errors,
        time.perf_counter() - started,
    )


def _write(folder: StochasticFolder, done: JobOutcome, deals: bool) -> dict[str, Any]:
    """Write a finished job; the data of its marker."""
    job = done.job
    if job.kind != RECOURSE:
        row = folder.write_job(done)
        data: dict[str, Any] = {"hash": job.key, "row": row}
        if job.kind == MEAN and done.outcome is not None and done.outcome.result is not None:
            plan = done.outcome.result.plan
            if plan is not None and not done.outcome.result.violations:
                accepted = _deals(plan.deal_accepted) if deals else None
                data["first_stage"] = FirstStage(plan.surplus, accepted).as_dict()
        if data.get("first_stage") is not None:
            _remember(folder, job, data)
        return data
    result = done.recourse
    if result is None or result.rp is None or result.violations:
        outcome = done.outcome
        message = done.error or (
            "the plan fails its own check: " + "; ".join(result.violations[:3])
            if result is not None and result.violations
            else "no plan"
        )
        status = "error" if done.error or (result is not None and result.violations) else None
        if outcome is not None and outcome.result is None:
            status, message = "infeasible", "conflicts: " + ", ".join(outcome.conflicts)
        if status is None and result is not None:
            status = str(result.outcome.termination)
        return folder.write_recourse_failure(job, {"status": status or "error", "message": message})
    outcome_of = {
        name: ScenarioOutcome(solved.instance, solved) for name, solved in result.scenarios.items()
    }
    accepted = None if result.deals is None else _deals(result.deals)
    record = {
        "row": {
            "status": str(result.outcome.termination),
            "rp": result.rp,
            "solver_objective": result.outcome.objective,
            "best_bound": result.outcome.best_bound,
            "mip_gap": result.outcome.mip_gap,
            "solve_seconds": round(result.outcome.solve_seconds, 6),
            "seconds": round(done.seconds, 6),
            "worker": done.worker,
            "columns": result.columns,
            "rows": result.rows,
            "plan_source": "lp_rounding" if result.known_kept else "extensive_form",
            "lp_rounding_rp": None if result.known is None else result.known.rp,
            "lp_rounding_seconds": None if result.known is None else round(result.known.seconds, 6),
        },
        "first_stage": FirstStage(result.surplus, accepted).as_dict(),
        "timings": {key: round(value, 6) for key, value in result.timings.items()},
    }
    return folder.write_recourse(job, outcome_of, record)


def _seed(
    base: Instance,
    probability: dict[str, float],
    done: dict[str, dict[str, Any]],
    first_jobs: list[Job],
    mean_job: Job,
    eev_jobs: list[Job],
) -> Candidate | None:
    """The mean scenario's first stage with its EEV as a first candidate of the
    decomposition (None when the EEV is not defined)."""
    eev = _figures(base, probability, None, done, first_jobs, mean_job, eev_jobs)["eev"]
    first = (done.get(mean_job.key) or {}).get("first_stage")
    if eev is None or first is None:
        return None
    surplus = first_stage_frame(first["surplus"])
    racks = {
        (str(p), int(t)): round(r)
        for p, t, r in zip(surplus["product"], surplus["period"], surplus["racks"], strict=True)
    }
    return Candidate(racks, value=eev, source="mean scenario")


def _write_decomposition(
    folder: StochasticFolder, job: Job, answer: Decomposition, mip_gap: float
) -> dict[str, Any]:
    """The decomposition's best plan written as the recourse problem's outputs."""
    best = answer.best
    row: dict[str, Any] = {
        "method": DECOMPOSITION,
        "iterations": len(answer.iterations),
        "stopped": answer.stopped,
    }
    if best is None or best.value is None or best.outcomes is None:
        row |= {"status": "error", "message": f"no first stage evaluated ({answer.stopped})"}
        return folder.write_recourse_failure(job, row)
    gap = answer.gap
    stopped = {"iterations": "iteration_limit"}.get(answer.stopped, answer.stopped)
    status = "optimal" if answer_within(gap, mip_gap) else stopped
    row |= {
        "status": status,
        "rp": best.value,
        "solver_objective": best.value,
        "best_bound": answer.bound,
        "mip_gap": gap,
        "first_stage_from": best.source,
    }
    surplus = pd.DataFrame(
        [(p, t, r) for (p, t), r in sorted(best.surplus.items())],
        columns=["product", "period", "racks"],
    )
    record = {
        "row": row,
        "first_stage": FirstStage(surplus).as_dict(),
        "decomposition": answer.iterations,
    }
    return folder.write_recourse(job, best.outcomes, record)


def _deals(accepted: pd.Series) -> dict[str, float]:
    return {str(customer): float(round(value)) for customer, value in accepted.items()}


def _remember(folder: StochasticFolder, job: Job, data: dict[str, Any]) -> None:
    """Add the mean scenario's first stage to its marker (the EEV jobs are made from it
    when a rerun resumes)."""
    import json

    marker = folder.job_dir(job) / "scenario.json"
    content = json.loads(marker.read_text(encoding="utf-8"))
    content["first_stage"] = data["first_stage"]
    write_json_atomically(marker, content)


def _rows(
    done: dict[str, dict[str, Any]],
    recourse: Job,
    alone: list[Job],
    mean_job: Job,
    eev_jobs: list[Job],
) -> list[dict[str, Any]]:
    """One row per solve and scenario: the recourse problem's plan in each scenario,
    each scenario alone, the mean scenario, each scenario with its first stage fixed."""
    rows: list[dict[str, Any]] = []
    recourse_data = done.get(recourse.key) or {}
    for name, row in (recourse_data.get("scenarios") or {}).items():
        rows.append({"solve": RECOURSE, "scenario": name, **row})
    if not recourse_data.get("scenarios"):
        rows.append({"solve": RECOURSE, "scenario": "", **(recourse_data.get("row") or {})})
    for job in [*alone, mean_job, *eev_jobs]:
        row = (done.get(job.key) or {}).get("row") or {"status": "not solved"}
        name = "" if job.kind == MEAN else (job.scenario.name if job.scenario else "")
        rows.append({"solve": job.kind, "scenario": name, **row})
    return rows


def _misfits(done: dict[str, dict[str, Any]], eev_jobs: list[Job]) -> dict[str, list[str]]:
    """Scenarios the mean scenario's first stage does not fit, and why."""
    found: dict[str, list[str]] = {}
    for job in eev_jobs:
        row = (done.get(job.key) or {}).get("row") or {}
        if row.get("status") == "infeasible" and job.scenario is not None:
            message = str(row.get("message", ""))
            found[job.scenario.name] = [message.removeprefix("conflicts: ")]
    return found


def _figures(
    base: Instance,
    probability: dict[str, float],
    recourse_data: dict[str, Any] | None,
    done: dict[str, dict[str, Any]],
    first_jobs: list[Job],
    mean_job: Job,
    eev_jobs: list[Job],
) -> dict[str, Any]:
    def by_scenario(jobs: list[Job]) -> dict[str, dict[str, Any]]:
        return {
            job.scenario.name: (done.get(job.key) or {}).get("row") or {}
            for job in jobs
            if job.scenario is not None
        }

    mean_data = done.get(mean_job.key) or {}
    first = mean_data.get("first_stage")
    mean_cost = None
    if first is not None:
        mean_cost = surplus_cost(base, first_stage_frame(first["surplus"]))
    alone = by_scenario([job for job in first_jobs if job.kind == WAIT_AND_SEE])
    return two_stage_figures(
        probability,
        None if recourse_data is None else recourse_data.get("row"),
        alone,
        by_scenario(eev_jobs),
        _misfits(done, eev_jobs),
        mean_cost,
    )


def default_workers() -> int:
    """One Dask worker per core (the extensive form runs on one of them)."""
    return max(1, os.cpu_count() or 1)
