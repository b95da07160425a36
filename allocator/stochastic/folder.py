"""The two-stage plan's folder on disk: one folder per solve with its done-marker, and the tables.

Layout of ``DIR`` (docs/contract.md names the first four):

* ``first_stage.csv`` (``product, period, racks``), ``deals.csv`` (``customer, accepted``,
  with deals in the first stage), ``scenarios/<scenario>/`` (the usual solve outputs of
  the two-stage plan in that scenario) and ``stochastic.json``;
* ``wait_and_see/<scenario>/``: the scenario solved alone; ``mean_scenario/``: the mean
  scenario solved alone; ``mean_first_stage/<scenario>/``: the scenario with the mean
  scenario's first stage fixed (the EEV);
* ``scenario_results.csv``: one row per solve and scenario; ``recourse.json``: the
  recourse problem's done-marker.

Each solve's folder is written whole by an atomic folder swap together with its marker
(``scenario.json``: the job's hash and its row), so a killed run leaves it done or not
started, and a rerun with the same hash skips it (``error`` rows are retried). The
recourse problem is done when ``recourse.json`` has its hash: it is written after every
``scenarios/<scenario>/`` and ``first_stage.csv``. ``stochastic.json`` comes last.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from allocator.atomic import (
    MARKER_FILE,
    MARKER_TEXT,
    check_replaceable,
    publish_folder,
    resolve_output,
    write_file,
    write_json,
    write_json_atomically,
)
from allocator.stochastic.jobs import (
    MEAN,
    MEAN_FIRST_STAGE,
    RECOURSE,
    WAIT_AND_SEE,
    Job,
    JobOutcome,
)
from allocator.whatif.metrics import has_plan, outcome_row
from allocator.whatif.scenarios import ScenarioOutcome

SCENARIOS_FOLDER = "scenarios"
FOLDERS = {WAIT_AND_SEE: "wait_and_see", MEAN_FIRST_STAGE: "mean_first_stage"}
MEAN_FOLDER = "mean_scenario"
FIRST_STAGE_FILE = "first_stage.csv"
DEALS_FILE = "deals.csv"
RESULTS_FILE = "scenario_results.csv"
STOCHASTIC_FILE = "stochastic.json"
RECOURSE_FILE = "recourse.json"
DONE_FILE = "scenario.json"
RETRIED_STATUSES = frozenset({"error"})


def check_stochastic_folder(out_dir: Path, instance_path: Path, scenarios_path: Path) -> None:
    """``DIR`` is new, empty or written by allocator, and neither holds the instance nor
    the scenario file (`allocator.atomic.check_replaceable`); `OutputError` otherwise."""
    check_replaceable(resolve_output(out_dir), protected=[instance_path, scenarios_path])


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    write_file(path, lambda temporary: frame.to_csv(temporary, index=False, lineterminator="\n"))


@dataclass
class StochasticFolder:
    """``DIR`` of one two-stage plan (see the module docstring)."""

    out_dir: Path
    source: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / MARKER_FILE).write_text(MARKER_TEXT, encoding="utf-8")

    def job_dir(self, job: Job) -> Path:
        if job.kind == MEAN:
            return self.out_dir / MEAN_FOLDER
        assert job.scenario is not None
        return self.out_dir / FOLDERS[job.kind] / job.scenario.name

    def done_row(self, job: Job) -> dict[str, Any] | None:
        """The row of a finished job with this hash, or None (to solve)."""
        path = (
            self.out_dir / RECOURSE_FILE if job.kind == RECOURSE else self.job_dir(job) / DONE_FILE
        )
        data = _read_json(path)
        row = data.get("row") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("hash") != job.key or not isinstance(row, dict):
            return None
        return None if row.get("status") in RETRIED_STATUSES else data

    def write_job(self, done: JobOutcome) -> dict[str, Any]:
        """A one-scenario job's outputs and marker, in one atomic folder swap; its row."""
        from allocator.errors import InfeasibleError
        from allocator.outputs.result_files import summary_dict, write_infeasible, write_result
        from allocator.solver.pipeline import RunOptions

        job, outcome = done.job, done.outcome
        folder = self.job_dir(job)
        if outcome is None:
            row = {"status": "error", "message": done.error or "error"}
            self._write_json_files(folder, {"summary.json": row, DONE_FILE: self._marker(job, row)})
            return row
        row = outcome_row(outcome)
        source = f"{self.source} ({job.label})"
        marker = {DONE_FILE: self._marker(job, row)}
        if outcome.result is None:
            error = InfeasibleError(outcome.conflicts, outcome.conflict_method)
            write_infeasible(
                error, outcome.instance, RunOptions(), folder, source, extra_json=marker
            )
        elif has_plan(row):
            write_result(outcome.result, folder, source, extra_json=marker)
        else:
            summary = summary_dict(outcome.result, source) | {"message": row.get("message")}
            self._write_json_files(folder, {"summary.json": summary, **marker})
        return row

    def write_recourse(
        self, job: Job, outcomes: dict[str, ScenarioOutcome], record: dict[str, Any]
    ) -> dict[str, Any]:
        """The two-stage plan in each scenario (``scenarios/<name>/``), the first stage
        (``record["first_stage"]``) as ``first_stage.csv`` and ``deals.csv``, then
        ``recourse.json`` with the record and each scenario's row; the marker data."""
        from allocator.outputs.result_files import write_result

        rows = {}
        for name, outcome in outcomes.items():
            assert outcome.result is not None
            row = outcome_row(outcome)
            rows[name] = row
            marker = {
                "solve": RECOURSE,
                "scenario": name,
                "hash": job.key,
                "run_id": self.run_id,
                "row": row,
            }
            source = f"{self.source} (two-stage plan, scenario {name})"
            write_result(
                outcome.result,
                self.out_dir / SCENARIOS_FOLDER / name,
                source,
                extra_json={DONE_FILE: marker},
            )
        first = record["first_stage"]
        write_csv(self.out_dir / FIRST_STAGE_FILE, first_stage_frame(first["surplus"]))
        deals_path = self.out_dir / DEALS_FILE
        if first.get("deals") is not None:
            deals = pd.DataFrame(
                {
                    "customer": list(first["deals"]),
                    "accepted": [round(v) for v in first["deals"].values()],
                }
            )
            write_csv(deals_path, deals)
        else:
            deals_path.unlink(missing_ok=True)  # of an earlier run with deals
        data = {"hash": job.key, "run_id": self.run_id, **record, "scenarios": rows}
        write_json_atomically(self.out_dir / RECOURSE_FILE, data)
        return data

    def write_recourse_failure(self, job: Job, row: dict[str, Any]) -> dict[str, Any]:
        """``recourse.json`` of a recourse problem without a plan (its row says why)."""
        data = {"hash": job.key, "run_id": self.run_id, "row": row, "scenarios": {}}
        write_json_atomically(self.out_dir / RECOURSE_FILE, data)
        return data

    def remove_others(self, kind_names: dict[str, Iterable[str]]) -> None:
        """Drop solve folders of earlier runs whose scenarios this run does not have
        (only folders allocator wrote: they carry its marker)."""
        for folder_name, names in kind_names.items():
            parent = self.out_dir / folder_name
            if not parent.is_dir():
                continue
            keep = set(names)
            for child in parent.iterdir():
                if child.is_dir() and child.name not in keep and (child / MARKER_FILE).exists():
                    shutil.rmtree(child, ignore_errors=True)

    def _write_json_files(self, folder: Path, files: dict[str, Any]) -> None:
        def fill(staging: Path) -> None:
            for name, data in files.items():
                write_json(staging / name, data)

        publish_folder(folder, fill)

    def _marker(self, job: Job, row: dict[str, Any]) -> dict[str, Any]:
        scenario = job.scenario
        return {
            "solve": job.kind,
            "scenario": None if scenario is None else scenario.name,
            "probability": None if scenario is None else scenario.probability,
            "changes": {} if scenario is None else {t.name: v for t, v in scenario.changes},
            "hash": job.key,
            "run_id": self.run_id,
            "row": row,
        }


def first_stage_frame(surplus: dict[str, float]) -> pd.DataFrame:
    """``first_stage.csv`` from the record's ``"product,period" -> racks``: rows with racks
    > 0, by product and period."""
    rows = []
    for key, racks in surplus.items():
        product, _, period = key.rpartition(",")
        if racks > 0:
            rows.append(
                (product, int(period), round(racks) if float(racks).is_integer() else racks)
            )
    frame = pd.DataFrame(rows, columns=["product", "period", "racks"])
    return frame.sort_values(["product", "period"]).reset_index(drop=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
