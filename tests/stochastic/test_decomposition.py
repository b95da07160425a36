"""``--method decomposition``: its bound is above the recourse problem's optimum and its
plan's value below it (the extensive form at gap 0 gives the optimum), and on the
hand-checked instances it finds the optimal first stage and closes the gap."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from allocator.data.validate import load_instance
from allocator.solver.highs import SolverOptions, Termination
from allocator.solver.pipeline import RunOptions
from allocator.stochastic.decomposition import agreed
from allocator.stochastic.run import run_stochastic
from allocator.stochastic.scenario_file import read_scenarios
from tests.stochastic.helpers import cli, record_of, surplus_instance, write_scenarios
from tests.whatif.helpers import generated

EXACT = ("--mip-gap", "0", "--workers", "1", "--quiet")


def _run(instance: Path, scenarios: Path, out: Path, *extra: str) -> dict:
    result = cli("stochastic", instance, "--scenarios", scenarios, "--out", out, *EXACT, *extra)
    assert result.exit_code == 0, result.output
    return record_of(out)


@pytest.mark.parametrize(("high", "racks", "rp"), [(0.6, 10, 180.0), (0.4, 2, 100.0)])
def test_hand_checked_optimum_with_a_closed_gap(
    tmp_path: Path, high: float, racks: int, rp: float
) -> None:
    instance = surplus_instance(tmp_path / "surplus")
    scenarios = write_scenarios(
        tmp_path / "scenarios.csv", [f"low,{1 - high!r},orders.racks,0.2", f"high,{high!r},,"]
    )
    record = _run(instance, scenarios, tmp_path / "out", "--method", "decomposition")
    first = pd.read_csv(tmp_path / "out" / "first_stage.csv")
    assert first.to_dict("records") == [{"product": "P", "period": 1, "racks": racks}]
    assert record["rp"] == pytest.approx(rp, abs=1e-6)
    recourse = record["recourse"]
    assert recourse["method"] == "decomposition"
    assert recourse["status"] == "optimal"
    assert recourse["best_bound"] == pytest.approx(rp, abs=1e-6)
    assert recourse["mip_gap"] <= 1e-9
    # the mean scenario's first stage (7 or 5 racks: the EEV) is not the answer
    assert record["vss"] == pytest.approx(30.0, abs=1e-6)
    assert 1 <= recourse["iterations"] <= 10


def test_bound_above_the_optimum_above_the_plan_on_dask(tmp_path: Path) -> None:
    small = generated(tmp_path / "small", seed=1)
    scenarios = write_scenarios(
        tmp_path / "scenarios.csv",
        [
            "low,0.3,orders.racks,0.7",
            "mid,0.4,,",
            "high,0.3,orders.racks,1.3",
            "high,0.3,supply.surplus_cost,0.8",
        ],
    )
    exact = _run(small, scenarios, tmp_path / "extensive")
    options = RunOptions(SolverOptions(mip_gap=0.0))
    report = run_stochastic(
        load_instance(small),
        "small",
        tmp_path / "decomposition",
        read_scenarios(scenarios),
        options,
        workers=2,
        method="decomposition",
        iterations=4,
    )
    record = report.record
    recourse = record["recourse"]
    assert recourse["method"] == "decomposition"
    assert recourse["best_bound"] >= exact["rp"] - 1e-6 * abs(exact["rp"])
    assert exact["rp"] >= record["rp"] - 1e-6 * abs(exact["rp"])
    gap = abs(recourse["best_bound"] - record["rp"]) / abs(record["rp"])
    assert recourse["mip_gap"] == pytest.approx(gap, abs=1e-12)
    # the plan is the best first stage evaluated: never worse than the mean scenario's
    assert record["rp"] >= record["eev"] - 1e-6 * abs(record["eev"])
    for figure in ("ws", "eev"):  # the same one-scenario solves as the extensive run
        assert record[figure] == pytest.approx(exact[figure], rel=1e-9), figure
    first = pd.read_csv(tmp_path / "decomposition" / "first_stage.csv")
    assert list(first.columns) == ["product", "period", "racks"]
    assert (first["racks"] == first["racks"].round()).all()
    for name in ("low", "mid", "high"):
        assert (tmp_path / "decomposition" / "scenarios" / name / "allocation.csv").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--method", "bundles"), "give extensive or decomposition"),
        (("--method", "decomposition", "--first-stage", "surplus,deals"), "surplus first only"),
    ],
)
def test_bad_method_exits_2_and_writes_nothing(
    tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    instance = surplus_instance(tmp_path / "surplus")
    scenarios = write_scenarios(tmp_path / "scenarios.csv", ["only,1,,"])
    out = tmp_path / "out"
    result = cli("stochastic", instance, "--scenarios", scenarios, "--out", out, *extra)
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_scenarios_agree_only_when_every_subproblem_was_solved_to_its_gap() -> None:
    same = {"a": {("P", 1): 2.0}, "b": {("P", 1): 2.0}}
    solved = {"a": Termination.OPTIMAL, "b": Termination.OPTIMAL}
    assert agreed(same, solved)
    assert not agreed(same, {"a": Termination.OPTIMAL, "b": Termination.TIME_LIMIT})
    assert not agreed({"a": {("P", 1): 2.0}, "b": {("P", 1): 3.0}}, solved)
