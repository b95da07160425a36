"""Running a what-if sweep: each distinct scenario solved once, written as it arrives.

`run_whatif` (``allocator whatif``) makes the scenarios, takes the rows of those already
done from their markers (a rerun resumes), solves the rest in this process or on Dask
(`allocator.whatif.executors`), writes each one and rewrites ``DIR/sweep.csv`` atomically
as it arrives, then ``policy_cost.csv`` and the charts. Scenarios with the same content
(the same hash) are solved once. A scenario that fails is a status in its row (``error``
rows are retried on a rerun), never an exception that stops the sweep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from allocator.atomic import MARKER_FILE, MARKER_TEXT, write_json_atomically
from allocator.data.instance import Instance
from allocator.solver.pipeline import RunOptions
from allocator.whatif.executors import Completed, dask_client, run_dask, run_serial
from allocator.whatif.folder import (
    POLICY_COST_FILE,
    SCENARIOS_FOLDER,
    SWEEP_FILE,
    SWEEP_INFO_FILE,
    SweepFolder,
    write_csv_atomic,
)
from allocator.whatif.metrics import has_plan, policy_cost_table, sweep_table
from allocator.whatif.scenarios import coordinate_targets, make_scenarios, scenario_hash
from allocator.whatif.spec import Scenario, SweepSpec, policy_drops


@dataclass
class SweepReport:
    """What a sweep did, and its tables."""

    out_dir: Path
    table: pd.DataFrame
    policy_costs: pd.DataFrame | None
    solved: int
    skipped: int
    failed: int
    errors: int
    charts: list[Path]
    seconds: float


OnWritten = Callable[[str, dict[str, Any]], None]
"""Called with the scenario name and row once its files and sweep.csv are written."""


def run_whatif(
    base: Instance,
    source: str,
    out_dir: Path,
    spec: SweepSpec,
    options: RunOptions,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    show_progress: bool = False,
    on_written: OnWritten | None = None,
) -> SweepReport:
    """Run (or finish) a sweep into ``out_dir``; see the module docstring."""
    started = time.perf_counter()
    drops = policy_drops(base)
    scenarios = make_scenarios(spec, drops)
    targets = coordinate_targets(spec, drops)
    hashes = {scenario.name: scenario_hash(base, scenario, options) for scenario in scenarios}
    groups: dict[str, list[Scenario]] = {}
    for scenario in scenarios:
        groups.setdefault(hashes[scenario.name], []).append(scenario)

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER_FILE).write_text(MARKER_TEXT, encoding="utf-8")
    (out_dir / SCENARIOS_FOLDER).mkdir(exist_ok=True)
    folder = SweepFolder(out_dir, source)
    rows, jobs = _resume(folder, groups)
    skipped = len(groups) - len(jobs)
    write_json_atomically(
        out_dir / SWEEP_INFO_FILE, _sweep_info(base, source, spec, options, hashes)
    )

    def write_table() -> pd.DataFrame:
        table = sweep_table(base, scenarios, hashes, rows, targets)
        write_csv_atomic(out_dir / SWEEP_FILE, table)
        return table

    write_table()
    solved = 0
    with _Progress(show_progress, len(groups), skipped) as progress:
        for key, outcome, message in _execute(base, jobs, options, workers, scheduler, progress):
            for scenario in groups[key]:
                if outcome is not None:
                    row = folder.write_outcome(scenario, key, outcome)
                else:
                    row = folder.write_error(scenario, key, message or "error")
                rows[scenario.name] = row
            solved += 1
            write_table()
            progress.advance(failed=not has_plan(rows[groups[key][0].name]))
            if on_written is not None:
                for scenario in groups[key]:
                    on_written(scenario.name, rows[scenario.name])

    table = write_table()
    policy_costs = None
    if spec.policy_cost:
        policy_costs = policy_cost_table(rows, drops)
        write_csv_atomic(out_dir / POLICY_COST_FILE, policy_costs)
    else:
        (out_dir / POLICY_COST_FILE).unlink(missing_ok=True)  # of an earlier sweep here
    from allocator.outputs.charts import write_charts

    series = [vary.target.name for vary in spec.varies]
    charts = write_charts(table, series, policy_costs, out_dir, base.name, base.settings.currency)
    statuses = table["status"]
    return SweepReport(
        out_dir,
        table,
        policy_costs,
        solved,
        skipped,
        failed=int((table["objective"].isna()).sum()),
        errors=int((statuses == "error").sum()),
        charts=charts,
        seconds=time.perf_counter() - started,
    )


def _resume(
    folder: SweepFolder, groups: dict[str, list[Scenario]]
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, Scenario]]]:
    """Rows of finished scenarios; the (hash, scenario) jobs still to solve. A scenario
    with the same content as a finished one gets a copy of its outputs."""
    rows: dict[str, dict[str, Any]] = {}
    jobs: list[tuple[str, Scenario]] = []
    for key, members in groups.items():
        done = {member.name: folder.done_row(member, key) for member in members}
        finished = [member for member in members if done[member.name] is not None]
        if not finished:
            jobs.append((key, members[0]))
            continue
        row = done[finished[0].name]
        assert row is not None
        for member in members:
            if done[member.name] is None:
                folder.copy_done(finished[0], member, key, row)
            rows[member.name] = row
    return rows, jobs


def _execute(
    base: Instance,
    jobs: Sequence[tuple[str, Scenario]],
    options: RunOptions,
    workers: int,
    scheduler: str | None,
    progress: _Progress,
) -> Iterator[Completed]:
    if not jobs:
        return
    if scheduler is None and workers <= 1:
        progress.set_slots(1)
        yield from run_serial(base, jobs, options)
        return
    with dask_client(min(workers, len(jobs)), scheduler) as client:
        progress.set_slots(max(1, sum(client.nthreads().values())))
        yield from run_dask(client, base, jobs, options)


def _sweep_info(
    base: Instance, source: str, spec: SweepSpec, options: RunOptions, hashes: dict[str, str]
) -> dict[str, Any]:
    from allocator.solver.pipeline import versions

    return {
        "instance": {"name": base.name, "source": source, "content_hash": base.content_hash},
        "surplus_scales": list(spec.surplus_scales),
        "vary": {vary.target.name: list(vary.values) for vary in spec.varies},
        "policy_cost": spec.policy_cost,
        "options": options.as_dict(),
        "scenarios": hashes,
        "versions": versions(),
    }


class _Progress:
    """A rich progress bar of scenarios done, running and failed (or nothing)."""

    def __init__(self, show: bool, total: int, done: int) -> None:
        self.total, self.done, self.failed, self.slots = total, done, 0, 1
        self._bar: Any = None
        self._task: Any = None
        if show:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("what-if"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("done, {task.fields[running]} running, {task.fields[failed]} failed"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task(
                "what-if", total=self.total, completed=self.done, running=0, failed=0
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def set_slots(self, slots: int) -> None:
        self.slots = slots
        self._refresh()

    def advance(self, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        self._refresh()

    def _refresh(self) -> None:
        if self._bar is not None:
            running = min(self.slots, self.total - self.done)
            self._bar.update(self._task, completed=self.done, running=running, failed=self.failed)
