"""One scheduled nightly run: never a broken plan published, never yesterday's lost.

`run_nightly` is the whole run, in order:

1. take the run lock (`allocator.nightly.lock.RunLock`); held by another run: exit 75;
2. open the store, undo what a killed run left in the published folder, insert this
   run's ``running`` row, and mark dead runs' rows ``abandoned``;
3. read and validate the instance; invalid: the problems are recorded, exit 2;
4. align and repair the last published plan (`allocator.nightly.baseline`), and build the
   model with the stability terms and that plan as the MIP start
   (`allocator.model.stability`);
5. solve within the time budget: infeasible (strict) exit 3; no incumbent exit 4;
6. re-check the plan from its own rows (`allocator.nightly.recheck`: every constraint;
   the contract's objective recomputed and compared with HiGHS's less the recomputed stability cost;
   frozen periods as fixed): a plan that fails is recorded, not published, exit 4;
7. store the run and its plan rows in one transaction, then publish the `solve`
   outputs plus ``manifest.json`` atomically (`allocator.nightly.lock.publish_folder`), and
   mark the run ``published``: exit 0.

Anything unexpected records the run as ``failed``, exit 1. The previously published
folder is only ever replaced by step 7.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from allocator.atomic import (
    OutputError,
    check_replaceable,
    publish_folder,
    recover_folder,
    resolve_output,
    write_json,
)
from allocator.data.instance import Instance
from allocator.errors import ExitCode, InfeasibleError, InstanceError
from allocator.faults import failpoint
from allocator.model.stability import (
    StabilityOptions,
    StabilitySetup,
    stability_extension,
)
from allocator.nightly.baseline import Baseline, moved_racks, prepare_baseline, stability_cost
from allocator.nightly.config import NightlyConfig
from allocator.nightly.lock import LockHeldError, RunLock
from allocator.nightly.recheck import recheck
from allocator.nightly.recovery import abandon_stale_runs
from allocator.nightly.store import (
    FAILED,
    INFEASIBLE,
    INVALID,
    NO_PLAN,
    PUBLISHED,
    REJECTED,
    STORED,
    ProblemRow,
    RunStore,
    StoreError,
    display_url,
    to_json,
)
from allocator.outputs.result_files import result_files, summary_dict
from allocator.solver.highs import SolverOptions
from allocator.solver.pipeline import RunOptions, SolveResult, solve_instance, versions

Echo = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass
class NightlyOutcome:
    """How a run ended: ``exit_code`` as documented, the run's id in the store (None
    when it never got one), a one-line ``message`` and the manifest."""

    exit_code: ExitCode
    run_id: int | None
    status: str
    message: str
    manifest: dict[str, Any] = field(default_factory=dict)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run_nightly(config: NightlyConfig, echo: Echo = _stderr) -> NightlyOutcome:
    """One nightly run (see the module docstring)."""
    started = time.perf_counter()
    try:
        check_replaceable(
            resolve_output(config.publish), protected=[config.instance], what="--publish"
        )
    except OutputError as error:
        return NightlyOutcome(ExitCode.INVALID, None, INVALID, f"{error}; not started")
    locks = [RunLock(config.lock_path)]
    if config.extra_lock_path is not None:
        locks.append(RunLock(config.extra_lock_path))
    try:
        with contextlib.ExitStack() as held:
            for lock in locks:
                held.enter_context(lock.acquire())
            try:
                store = RunStore(config.store)
            except StoreError as error:
                return NightlyOutcome(ExitCode.ERROR, None, FAILED, str(error))
            with store:
                for action in recover_folder(config.publish):
                    echo(f"published folder: {action}")
                run = NightlyRun(config, store, echo, started)
                return run.execute()
    except LockHeldError as error:
        return NightlyOutcome(ExitCode.LOCKED, None, "locked", str(error))


class _RunEnded(Exception):
    """A step recorded the run's end (invalid, infeasible, no plan, rejected)."""

    def __init__(self, outcome: NightlyOutcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


class NightlyRun:
    """The steps of one run that holds the lock; each ends the run or hands on."""

    def __init__(self, config: NightlyConfig, store: RunStore, echo: Echo, started: float):
        self.config = config
        self.store = store
        self.echo = echo
        self.clock = started
        self.started_at = now()
        self.timings: dict[str, Any] = {"lock": time.perf_counter() - started}
        self.manifest: dict[str, Any] = {}
        self.run_id = store.start_run(
            started_at=self.started_at,
            phase="starting",
            host=socket.gethostname(),
            pid=os.getpid(),
            lock_path=str(config.lock_path),
            publish_path=str(config.publish.absolute()),
            instance_source=str(config.instance),
            options=to_json(config.as_dict()),
        )
        for stale, status in abandon_stale_runs(store, config, self.run_id).items():
            echo(f"run {stale}: its process had ended; marked {status}")

    def _timings(self) -> dict[str, Any]:
        """Seconds per step so far, and the run's total up to now."""
        return _rounded({**self.timings, "total": time.perf_counter() - self.clock})

    def _phase(self, phase: str) -> None:
        self.store.update_run(self.run_id, phase=phase)

    def _time(self, name: str, since: float) -> float:
        current = time.perf_counter()
        self.timings[name] = current - since
        return current

    def execute(self) -> NightlyOutcome:
        try:
            return self._execute()
        except _RunEnded as ended:
            return ended.outcome
        except Exception as error:  # any failure is recorded, then reported as exit 1
            message = f"{type(error).__name__}: {error}"
            try:
                self._finish(FAILED, ExitCode.ERROR, message)
            except Exception as again:  # the store itself failed: say so, still exit 1
                message += f" (and the run could not be recorded: {again})"
            return self._outcome(ExitCode.ERROR, FAILED, f"run {self.run_id} failed: {message}")

    def _execute(self) -> NightlyOutcome:
        config = self.config
        self._phase("loading")
        mark = time.perf_counter()
        instance = self._load()
        mark = self._time("load", mark)
        self.store.update_run(
            self.run_id,
            instance_name=instance.name,
            instance_hash=instance.content_hash,
            instance_start=instance.settings.start,
        )
        stored = self.store.last_published()
        baseline = (
            prepare_baseline(stored, instance, strict=config.strict) if stored is not None else None
        )
        mark = self._time("baseline", mark)
        self._phase("solving")
        result, setup = self._solve(instance, baseline)
        mark = self._time("solve", mark)
        self._phase("checking")
        cost = self._stability_cost(baseline, result, setup)
        problems = recheck(instance, result, baseline, setup, cost, self.config)
        mark = self._time("check", mark)
        moved = self._moved(baseline, result)
        self._describe_solve(result, baseline, setup, cost, moved)
        outcome_fields: dict[str, Any] = {
            "solve_status": str(result.status),
            "objective": result.objective,
            "best_bound": result.best_bound,
            "mip_gap": result.mip_gap,
            "stability_cost": cost,
            "racks_moved": None if moved is None else moved["total"],
            "previous_run_id": None if baseline is None else baseline.run_id,
        }
        if problems:
            message = f"the plan failed its re-check ({len(problems)} problems); not published"
            self._end(
                REJECTED,
                ExitCode.NO_PLAN,
                message,
                result=result,
                problems=problems,
                **outcome_fields,
            )
        self._phase("storing")
        summary = self._summary(result, cost, moved)
        self._finish(
            STORED, ExitCode.OK, "stored", result=result, summary=summary, **outcome_fields
        )
        mark = self._time("store", mark)
        failpoint("nightly:stored")
        self._phase("publishing")
        message = (
            f"run {self.run_id}: published {config.publish} (objective {result.objective:,.0f}, "
            f"gap {_percent(result.mip_gap)}, racks moved {_racks(moved)})"
        )
        self._publish(result, summary, message)
        failpoint("nightly:published")
        self._time("publish", mark)
        self.manifest["timings_seconds"] = self._timings()
        self.store.update_run(
            self.run_id,
            status=PUBLISHED,
            phase=None,
            published_at=now(),
            message=message,
            manifest=to_json(self.manifest),
        )
        return self._outcome(ExitCode.OK, PUBLISHED, message)

    # --- steps -------------------------------------------------------------------------

    def _load(self) -> Instance:
        from allocator.data.validate import load_instance

        try:
            return load_instance(self.config.instance)
        except InstanceError as error:
            problems = [
                ProblemRow("instance", p.message, p.file, p.row, p.column) for p in error.problems
            ]
            self._end(INVALID, ExitCode.INVALID, error.describe(), problems=problems)

    def run_options(self, with_extension: bool) -> RunOptions:
        config = self.config
        log_file = config.solver_log_path
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text("", encoding="utf-8")  # HiGHS appends; one run per file
        solver = SolverOptions(
            time_limit=config.time_limit,
            mip_gap=config.mip_gap,
            threads=config.threads,
            seed=config.seed,
            log=config.log,
            log_file=str(log_file),
        )
        options = RunOptions(solver, strict=config.strict)
        if with_extension:
            # The pipeline's optional LP-rounding start knows only the contract's variables: with
            # stability variables it would be incomplete. The previous plan is the start.
            options = replace(options, lp_first=False)
        return options

    def _solve(
        self, instance: Instance, baseline: Baseline | None
    ) -> tuple[SolveResult, StabilitySetup | None]:
        config = self.config
        extend = setup = None
        if baseline is not None:
            stability = StabilityOptions(
                config.frozen_periods, config.change_penalty, config.mip_start
            )
            extend, setup = stability_extension(instance, baseline, stability)
            for note in setup.notes:
                self.echo(note)
        self.manifest["instance"] = _instance_info(instance, str(config.instance))
        options = self.run_options(extend is not None)
        try:
            result = solve_instance(instance, options, extend)
        except InfeasibleError as error:
            problems = [ProblemRow("conflict", name) for name in error.conflicts]
            self._end(
                INFEASIBLE,
                ExitCode.INFEASIBLE,
                str(error),
                problems=problems,
                solve_status="infeasible",
            )
        if result.plan is None:
            message = (
                f"no plan: HiGHS stopped with status {result.status} and no incumbent; "
                "the published plan stays"
            )
            self._end(NO_PLAN, ExitCode.NO_PLAN, message, solve_status=str(result.status))
        return result, setup

    def _stability_cost(
        self, baseline: Baseline | None, result: SolveResult, setup: StabilitySetup | None
    ) -> float:
        if baseline is None or setup is None or result.plan is None:
            return 0.0
        return stability_cost(
            baseline,
            result.plan,
            frozen_periods=self.config.frozen_periods,
            change_penalty=self.config.change_penalty,
            frozen_change_cost=setup.frozen_change_cost,
        )

    def _moved(self, baseline: Baseline | None, result: SolveResult) -> dict[str, float] | None:
        if baseline is None or result.plan is None:
            return None
        moved = moved_racks(baseline.published, result.plan.allocation)
        frozen = moved["ship_period"] <= self.config.frozen_periods
        return {
            "total": float(moved["moved"].sum()),
            "frozen_periods": float(moved.loc[frozen, "moved"].sum()),
            "later_periods": float(moved.loc[~frozen, "moved"].sum()),
        }

    def _describe_solve(
        self,
        result: SolveResult,
        baseline: Baseline | None,
        setup: StabilitySetup | None,
        cost: float,
        moved: dict[str, float] | None,
    ) -> None:
        self.manifest["solve"] = {
            "status": str(result.status),
            "objective": result.objective,
            "solver_objective": result.solver_objective,
            "best_bound": result.best_bound,
            "mip_gap": result.mip_gap,
            "timings_seconds": _rounded(result.timings),
        }
        self.manifest["versions"] = result.versions
        stability: dict[str, Any] = {
            "previous_run_id": None if baseline is None else baseline.run_id,
            "frozen_periods": self.config.frozen_periods,
            "change_penalty": self.config.change_penalty,
            "stability_cost": cost,
        }
        if baseline is not None:
            stability["period_shift"] = baseline.shift
            stability["repair_removed_racks"] = baseline.removed
        if setup is not None:
            stability.update(setup.as_dict())
        self.manifest["stability"] = stability
        self.manifest["racks_moved"] = moved

    def _summary(
        self, result: SolveResult, cost: float, moved: dict[str, float] | None
    ) -> dict[str, Any]:
        summary = summary_dict(result, str(self.config.instance))
        summary["run_id"] = self.run_id
        summary["stability_cost"] = cost
        summary["racks_moved"] = moved
        return summary

    def _publish(self, result: SolveResult, summary: dict[str, Any], message: str) -> None:
        self.manifest.update(status=PUBLISHED, exit_code=ExitCode.OK, message=message)
        self.manifest["finished_at"] = now().isoformat(timespec="seconds")
        self.manifest["timings_seconds"] = self._timings()

        def fill(folder: Path) -> None:
            for name, frame in result_files(result).items():
                frame.to_csv(folder / name, index=False, lineterminator="\n")
            write_json(folder / "summary.json", summary)
            write_json(folder / "manifest.json", self.manifest)

        publish_folder(
            self.config.publish, fill, protected=[self.config.instance], what="--publish"
        )

    # --- recording -----------------------------------------------------------------------

    def _solver_log(self) -> str | None:
        try:
            return self.config.solver_log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def _finish(
        self,
        status: str,
        exit_code: ExitCode,
        message: str,
        *,
        result: SolveResult | None = None,
        problems: list[ProblemRow] | None = None,
        summary: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """Record the run's outcome (one transaction, with its plan rows and problems)."""
        self.manifest = self._manifest_head(status, exit_code, message)
        self.manifest.setdefault("versions", versions())
        if problems:
            self.manifest["problems"] = len(problems)
        self.store.finish_run(
            self.run_id,
            status=status,
            plan=None if result is None else result.plan,
            problems=problems or (),
            exit_code=exit_code,
            message=message,
            phase=None,
            manifest=to_json(self.manifest),
            summary=None if summary is None else to_json(summary),
            solver_log=fields.pop("solver_log", None) or self._solver_log(),
            **fields,
        )

    def _end(self, status: str, exit_code: ExitCode, message: str, **details: Any) -> NoReturn:
        """Record the run's end and stop it (`_RunEnded`)."""
        self._finish(status, exit_code, message, **details)
        raise _RunEnded(self._outcome(exit_code, status, f"run {self.run_id}: {message}"))

    def _manifest_head(self, status: str, exit_code: ExitCode, message: str) -> dict[str, Any]:
        head = {
            "run_id": self.run_id,
            "status": status,
            "exit_code": exit_code,
            "message": message,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": now().isoformat(timespec="seconds"),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "store": display_url(self.config.store),
            "publish": str(self.config.publish.absolute()),
            "options": self.config.as_dict(),
            "timings_seconds": self._timings(),
        }
        return {**head, **{k: v for k, v in self.manifest.items() if k not in head}}

    def _outcome(self, exit_code: ExitCode, status: str, message: str) -> NightlyOutcome:
        return NightlyOutcome(exit_code, self.run_id, status, message, dict(self.manifest))


def _instance_info(instance: Instance, source: str) -> dict[str, Any]:
    return {
        "source": source,
        "name": instance.name,
        "content_hash": instance.content_hash,
        "start": instance.settings.start,
        "periods": instance.periods,
    }


def _rounded(timings: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _rounded(value) if isinstance(value, dict) else round(float(value), 6)
        for key, value in timings.items()
    }


def _racks(moved: dict[str, float] | None) -> str:
    return "-" if moved is None else f"{moved['total']:,.0f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.4%}"
