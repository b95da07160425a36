"""The sweep folder on disk: a folder per scenario with its done-marker, and the tables.

Results are written as each scenario arrives: ``DIR/scenarios/<name>/`` gets the full
`allocator solve` outputs (atomically, by `allocator.outputs.result_files`), then ``scenario.json``,
the done-marker holding the scenario's content hash and its sweep row. A rerun skips
every scenario whose marker has the same hash, so an interrupted sweep loses nothing and
solves nothing twice; ``error`` rows are retried.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from allocator.atomic import (
    check_replaceable,
    publish_folder,
    resolve_output,
    write_file,
    write_json,
)
from allocator.solver.pipeline import RunOptions
from allocator.whatif.metrics import has_plan, outcome_row
from allocator.whatif.scenarios import ScenarioOutcome
from allocator.whatif.spec import Scenario

SCENARIOS_FOLDER = "scenarios"
DONE_FILE = "scenario.json"
"""A scenario's done-marker: its hash and sweep row, written with its outputs."""
SWEEP_FILE = "sweep.csv"
SWEEP_INFO_FILE = "sweep.json"
POLICY_COST_FILE = "policy_cost.csv"

RETRIED_STATUSES = frozenset({"error"})
"""Row statuses a rerun solves again: an exception may be transient (a lost worker);
every other status (optimal, time_limit, infeasible) is what the same solve gives again."""


def check_sweep_folder(out_dir: Path, instance_path: Path) -> None:
    """A sweep is written into (and resumed from) ``out_dir``: new, empty, or a folder
    allocator wrote; never the current folder, the instance or a folder holding it
    (`allocator.atomic.check_replaceable`); `OutputError` otherwise."""
    check_replaceable(resolve_output(out_dir), protected=[instance_path])


def write_csv_atomic(path: Path, frame: pd.DataFrame) -> None:
    write_file(path, lambda temporary: frame.to_csv(temporary, index=False, lineterminator="\n"))


@dataclass
class SweepFolder:
    """``DIR``: ``scenarios/<name>/`` with a ``scenario.json`` marker each, ``sweep.csv``."""

    out_dir: Path
    source: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def scenario_dir(self, scenario: Scenario) -> Path:
        return self.out_dir / SCENARIOS_FOLDER / scenario.name

    def done_row(self, scenario: Scenario, key: str) -> dict[str, Any] | None:
        """The row of a finished scenario with this hash, or None (to solve)."""
        marker = self.scenario_dir(scenario) / DONE_FILE
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        row = data.get("row") if isinstance(data, dict) else None
        if data.get("hash") != key or not isinstance(row, dict):
            return None
        if row.get("status") in RETRIED_STATUSES:
            return None
        return row

    def write_outcome(self, scenario: Scenario, key: str, outcome: ScenarioOutcome) -> dict:
        """The scenario's solve outputs and its marker, in one atomic folder swap: a kill
        leaves the scenario either done (outputs and marker) or not started."""
        from allocator.errors import InfeasibleError
        from allocator.outputs.result_files import summary_dict, write_infeasible, write_result

        row = outcome_row(outcome)
        folder = self.scenario_dir(scenario)
        source = f"{self.source} (what-if scenario {scenario.name})"
        marker = {DONE_FILE: self._marker(scenario, key, row)}
        result = outcome.result
        if result is None:
            error = InfeasibleError(outcome.conflicts, outcome.conflict_method)
            options = RunOptions()
            write_infeasible(error, outcome.instance, options, folder, source, extra_json=marker)
        elif has_plan(row):
            write_result(result, folder, source, extra_json=marker)
        else:
            summary = summary_dict(result, source) | {"message": row.get("message")}
            self._write_json_files(folder, {"summary.json": summary, **marker})
        return row

    def write_error(self, scenario: Scenario, key: str, message: str) -> dict[str, Any]:
        row = {"status": "error", "message": message}
        summary = {
            "status": "error",
            "objective": None,
            "message": message,
            "scenario": scenario.name,
        }
        self._write_json_files(
            self.scenario_dir(scenario),
            {"summary.json": summary, DONE_FILE: self._marker(scenario, key, row)},
        )
        return row

    def copy_done(self, source: Scenario, target: Scenario, key: str, row: dict) -> None:
        """A scenario with the same content as a finished one: copy its outputs."""
        origin = self.scenario_dir(source)

        def fill(folder: Path) -> None:
            shutil.copytree(origin, folder, dirs_exist_ok=True)
            write_json(folder / DONE_FILE, self._marker(target, key, row))

        publish_folder(self.scenario_dir(target), fill)

    def _write_json_files(self, folder: Path, files: dict[str, Any]) -> None:
        def fill(staging: Path) -> None:
            for name, data in files.items():
                write_json(staging / name, data)

        publish_folder(folder, fill)

    def _marker(self, scenario: Scenario, key: str, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": scenario.name,
            "kind": scenario.kind,
            "hash": key,
            "changes": {target.name: value for target, value in scenario.changes},
            "surplus_scale": scenario.surplus_scale,
            "run_id": self.run_id,
            "row": row,
        }
