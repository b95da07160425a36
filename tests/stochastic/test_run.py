"""A two-stage run as a planner meets it: a one-scenario file is a plain solve, a rerun
solves nothing twice, a killed run resumes, every output is where the contract says."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from allocator.data.validate import load_instance
from allocator.solver.highs import SolverOptions
from allocator.solver.pipeline import RunOptions, solve_instance
from tests.stochastic.helpers import cli, record_of, results_of, summary_of, write_scenarios
from tests.whatif.helpers import generated

EXACT = RunOptions(SolverOptions(mip_gap=0.0))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated(tmp_path_factory.mktemp("small") / "instance", seed=1)


def _scenarios(tmp_path: Path) -> Path:
    return write_scenarios(
        tmp_path / "scenarios.csv",
        [
            "low,0.3,orders.racks,0.7",
            "mid,0.4,,",
            "high,0.3,orders.racks,1.3",
            "high,0.3,supply.surplus_cost,0.8",
        ],
    )


def _run(small: Path, scenarios: Path, out: Path, *extra: str) -> None:
    result = cli(
        "stochastic",
        small,
        "--scenarios",
        scenarios,
        "--out",
        out,
        "--mip-gap",
        "0",
        "--quiet",
        "--workers",
        "1",
        *extra,
    )
    assert result.exit_code == 0, result.output


def test_one_scenario_is_a_plain_solve(small: Path, tmp_path: Path) -> None:
    scenarios = write_scenarios(tmp_path / "scenarios.csv", ["only,1,,"])
    out = tmp_path / "out"
    _run(small, scenarios, out)
    plain = solve_instance(load_instance(small), EXACT)
    record = record_of(out)
    for figure in ("rp", "ws", "eev"):
        assert record[figure] == pytest.approx(plain.objective, rel=1e-9), figure
    assert record["vss"] == pytest.approx(0.0, abs=1e-6)
    assert record["evpi"] == pytest.approx(0.0, abs=1e-6)
    assert summary_of(out / "scenarios" / "only")["objective"] == pytest.approx(plain.objective)
    assert plain.plan is not None
    first = pd.read_csv(out / "first_stage.csv")
    assert float(first["racks"].sum()) == float(plain.plan.surplus["racks"].sum())


def test_outputs_and_a_rerun_that_solves_nothing(small: Path, tmp_path: Path) -> None:
    scenarios = _scenarios(tmp_path)
    out = tmp_path / "out"
    _run(small, scenarios, out)
    record = record_of(out)
    names = ["low", "mid", "high"]
    for folder in ("scenarios", "wait_and_see", "mean_first_stage"):
        assert sorted(p.name for p in (out / folder).iterdir()) == sorted(names), folder
    for name in names:
        assert (out / "scenarios" / name / "allocation.csv").exists()
        assert summary_of(out / "wait_and_see" / name)["status"] == "optimal"
    assert (out / "mean_scenario" / "summary.json").exists()
    assert list(pd.read_csv(out / "first_stage.csv").columns) == ["product", "period", "racks"]
    assert record["vss"] == pytest.approx(record["rp"] - record["eev"])
    assert record["evpi"] == pytest.approx(record["ws"] - record["rp"])
    assert record["eev"] <= record["rp"] + 1e-6 <= record["ws"] + 2e-6
    solves = results_of(out)
    assert set(solves["solve"]) == {"recourse", "wait_and_see", "mean", "mean_first_stage"}
    assert (solves["status"] == "optimal").all()
    words = " ".join(record["summary"])
    assert "more on average than planning for the average case" in words or record["vss"] <= 0.5
    markers = {p: p.stat().st_mtime_ns for p in out.rglob("scenario.json")}
    _run(small, scenarios, out)  # everything done: nothing solved again
    assert {p: p.stat().st_mtime_ns for p in out.rglob("scenario.json")} == markers
    assert record_of(out)["rp"] == record["rp"]


def test_a_changed_scenario_is_solved_again_and_old_ones_go(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(small, _scenarios(tmp_path), out)
    mid = (out / "wait_and_see" / "mid" / "scenario.json").stat().st_mtime_ns
    changed = write_scenarios(
        tmp_path / "changed.csv",
        ["low,0.3,orders.racks,0.6", "mid,0.7,,"],
    )
    _run(small, changed, out)
    assert sorted(p.name for p in (out / "scenarios").iterdir()) == ["low", "mid"]
    assert not (out / "wait_and_see" / "high").exists()
    # mid alone is the same solve as before (same content): kept
    assert (out / "wait_and_see" / "mid" / "scenario.json").stat().st_mtime_ns == mid


def test_a_killed_run_resumes_without_solving_finished_solves_again(
    small: Path, tmp_path: Path
) -> None:
    scenarios = _scenarios(tmp_path)
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "allocator",
        "stochastic",
        str(small),
        "--scenarios",
        str(scenarios),
        "--out",
        str(out),
        "--mip-gap",
        "0",
        "--workers",
        "1",
        "--quiet",
    ]
    process = subprocess.Popen(command, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not _done(out / "wait_and_see"):
            assert process.poll() is None, "finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not (out / "stochastic.json").exists()
    finished = {
        path: json.loads(path.read_text(encoding="utf-8"))["hash"]
        for path in out.rglob("scenario.json")
        if not any(part.startswith(".") for part in path.relative_to(out).parts)
    }
    stamps = {path: path.stat().st_mtime_ns for path in finished}
    assert finished
    _run(small, scenarios, out)
    for path, stamp in stamps.items():
        assert path.stat().st_mtime_ns == stamp, f"{path} solved again"
    record = record_of(out)
    reference = tmp_path / "reference"
    _run(small, scenarios, reference)
    for figure in ("rp", "ws", "eev"):
        assert record[figure] == pytest.approx(record_of(reference)[figure], rel=1e-9)


def _done(folder: Path) -> list[Path]:
    """Finished solves (a staging folder, ``.NAME.partial-*``, is not one yet)."""
    return [p for p in folder.glob("*/scenario.json") if not p.parent.name.startswith(".")]


def test_with_a_time_limit_every_solve_has_one(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(small, _scenarios(tmp_path), out, "--time-limit", "60")
    record = record_of(out)
    assert record["options"]["solver"]["time_limit"] == 60
    assert record["rp"] is not None and record["ws"] is not None
