"""Wait-and-see, mean and EEV solves on Dask, as what-if scenarios are: a real local
cluster and a real scheduler started here give the figures a serial run gives, the
one-scenario solves done in the worker processes, and a run that finds most solves done
on disk solves only the rest there."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from allocator.data.validate import load_instance
from allocator.solver.highs import SolverOptions
from allocator.solver.pipeline import RunOptions
from allocator.stochastic.run import run_stochastic
from allocator.stochastic.scenario_file import read_scenarios
from tests.stochastic.helpers import cli, record_of, results_of, write_scenarios
from tests.whatif.helpers import generated
from tests.whatif.test_executors import dask_scheduler  # noqa: F401 (a fixture)

EXACT = RunOptions(SolverOptions(mip_gap=0.0))
FIGURES = ("rp", "ws", "eev", "vss", "evpi")
ALONE = ("wait_and_see", "mean", "mean_first_stage")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated(tmp_path_factory.mktemp("small") / "instance", seed=1)


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scenarios(
        tmp_path_factory.mktemp("scenarios") / "scenarios.csv",
        [
            "low,0.3,orders.racks,0.7",
            "mid,0.4,,",
            "high,0.3,orders.racks,1.3",
            "high,0.3,supply.surplus_cost,0.8",
        ],
    )


@pytest.fixture(scope="module")
def serial(small: Path, scenarios: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serial") / "out"
    run_stochastic(load_instance(small), "small", out, read_scenarios(scenarios), EXACT)
    return out


def _pids(out: Path, solves: tuple[str, ...]) -> set[int]:
    table = results_of(out)
    table = table[table["solve"].isin(solves)]
    assert len(table) > 0
    return set(table["worker"].str.split(":").str[-1].astype(int))


def _same_figures(out: Path, serial: Path) -> None:
    record, reference = record_of(out), record_of(serial)
    for figure in FIGURES:
        assert record[figure] == pytest.approx(reference[figure], rel=1e-9, abs=1e-6), figure
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "first_stage.csv"), pd.read_csv(serial / "first_stage.csv")
    )


def test_local_cluster_matches_serial_and_resumes(
    small: Path, scenarios: Path, serial: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(serial, out)
    # a run stopped before two solves were written: a wait-and-see and an EEV solve
    shutil.rmtree(out / "wait_and_see" / "high")
    shutil.rmtree(out / "mean_first_stage" / "low")
    (out / "stochastic.json").unlink()
    kept = {p: p.stat().st_mtime_ns for p in out.rglob("scenario.json")}
    report = run_stochastic(
        load_instance(small), "small", out, read_scenarios(scenarios), EXACT, workers=2
    )
    assert report.solved == 2  # only the missing ones
    assert report.skipped == 1 + 2 + 1 + 2  # recourse, 2 alone, the mean, 2 EEV
    for path, stamp in kept.items():
        assert path.stat().st_mtime_ns == stamp, f"{path} solved again"
    _same_figures(out, serial)
    table = results_of(out)
    solved_now = table[
        ((table["solve"] == "wait_and_see") & (table["scenario"] == "high"))
        | ((table["solve"] == "mean_first_stage") & (table["scenario"] == "low"))
    ]
    assert len(solved_now) == 2
    pids = set(solved_now["worker"].str.split(":").str[-1].astype(int))
    assert os.getpid() not in pids  # solved in the local cluster's worker processes


def test_local_cluster_from_nothing(
    small: Path, scenarios: Path, serial: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    report = run_stochastic(
        load_instance(small), "small", out, read_scenarios(scenarios), EXACT, workers=2
    )
    assert (report.solved, report.skipped, report.errors) == (1 + 3 + 1 + 3, 0, 0)
    _same_figures(out, serial)
    assert os.getpid() not in _pids(out, ALONE)
    assert int(record_of(out)["recourse"]["worker"].split(":")[-1]) != os.getpid()


def test_scheduler_path_matches_serial(
    small: Path,
    scenarios: Path,
    serial: Path,
    tmp_path: Path,
    dask_scheduler: tuple[str, int],  # noqa: F811 (the fixture imported above)
) -> None:
    address, worker_pid = dask_scheduler
    out = tmp_path / "out"
    result = cli(
        "stochastic", small, "--scenarios", scenarios, "--out", out,
        "--mip-gap", "0", "--scheduler", address, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    _same_figures(out, serial)
    assert _pids(out, ALONE) == {worker_pid}  # all on the team's worker
    assert int(record_of(out)["recourse"]["worker"].split(":")[-1]) == worker_pid
