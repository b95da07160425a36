"""What-if sweeps: the sweep definition, results against separate `allocator solve` runs
of the same modified instances, policy costs, resume after a kill, failures as rows, and
the Dask path on a real local cluster and on a real scheduler started here."""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from allocator.cli import app
from allocator.data.generate import generate_instance
from allocator.data.validate import load_instance
from allocator.outputs.charts import find_breakpoints
from allocator.solve.highs import SolverOptions
from allocator.solve.pipeline import RunOptions
from allocator.whatif import run as whatif
from allocator.whatif.run import (
    SweepSpec,
    Target,
    Vary,
    WhatifError,
    make_scenarios,
    parse_surplus_scales,
    parse_vary,
    run_whatif,
    scaled_column,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "instances" / "tiny"
RUNNER = CliRunner()
EXACT = RunOptions(SolverOptions(mip_gap=0.0))
SHARE = Target("policy", "third_party_max_share")


def cli(*args: str | Path) -> Result:
    return RUNNER.invoke(app, [str(arg) for arg in args], catch_exceptions=False)


def generated(folder: Path, seed: int) -> Path:
    """A small synthetic instance (about 150 integer variables) where the third-party
    share cap, the internal min fill and the minimum contract sizes all bind (seed 1)."""
    generate_instance(folder, regions=2, buyers=6, periods=6, seed=seed)
    return folder


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated(tmp_path_factory.mktemp("small") / "instance", seed=1)


def sweep_of(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "sweep.csv", keep_default_na=True).set_index("scenario")


def summary_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def marker_of(out: Path, name: str) -> dict[str, Any]:
    return json.loads((out / "scenarios" / name / "scenario.json").read_text(encoding="utf-8"))


# --- the sweep definition ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("policy.max_share=0.1", "unknown policy key 'max_share'"),
        ("orderz.price_per_rack=1", "unknown table 'orderz'"),
        ("orders.prize=1", "unknown column 'prize' in orders"),
        ("orders.customer=1", "not scalable 'customer'"),
        ("orders.period=2", "not scalable 'period'"),
        ("price_per_rack=1", "policy.KEY or TABLE.COLUMN"),
        ("orders.price_per_rack", "NAME=V1,V2"),
        ("orders.price_per_rack=1,x", "'x' is not a number"),
        ("orders.price_per_rack=-1", "factors must be >= 0"),
        ("policy.third_party_max_share=1.5", "out of range"),
        ("policy.internal_shortfall_penalty=nan", "not a finite number"),
    ],
)
def test_bad_vary_is_named(text: str, message: str) -> None:
    with pytest.raises(WhatifError, match=message.replace("(", r"\(")):
        parse_vary(text)


def test_bad_sweep_definition_or_instance_exits_2(tmp_path: Path, small: Path) -> None:
    for args in (
        ["--vary", "orders.prize=1"],
        ["--surplus-scale", "1,-1"],
        ["--vary", "policy.third_party_max_share=0.1", "--vary", "policy.third_party_max_share=1"],
    ):
        result = cli("whatif", small, "--out", tmp_path / "out", *args)
        assert result.exit_code == 2, result.output
        assert "--vary" in result.stderr or "--surplus-scale" in result.stderr
    broken = tmp_path / "broken"
    shutil.copytree(small, broken)
    (broken / "orders.csv").write_text("order,customer\n", encoding="utf-8")
    result = cli("whatif", broken, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "orders.csv" in result.stderr
    assert not (tmp_path / "out").exists()


def test_scenario_names_are_deterministic_and_readable() -> None:
    spec = SweepSpec(
        parse_surplus_scales("1.5,0,1.5"),
        (parse_vary("policy.third_party_max_share=0.2,0.35"), parse_vary("orders.racks=1.1")),
        policy_cost=True,
    )
    names = [scenario.name for scenario in make_scenarios(spec)]
    assert names == [
        "surplus-x0__policy.third_party_max_share-0.2__orders.racks-x1.1",
        "surplus-x1.5__policy.third_party_max_share-0.2__orders.racks-x1.1",
        "surplus-x0__policy.third_party_max_share-0.35__orders.racks-x1.1",
        "surplus-x1.5__policy.third_party_max_share-0.35__orders.racks-x1.1",
        "base",
        "no-third-party-share-cap",
        "no-internal-min-fill",
        "no-min-contract-racks",
    ]
    assert names == [scenario.name for scenario in make_scenarios(spec)]


def test_scaled_counts_stay_whole_and_in_range(small: Path) -> None:
    instance = load_instance(small)
    racks = scaled_column(instance.orders, Target("orders", "racks"), 0.01)["racks"]
    assert racks.dtype == "int64"
    assert (racks >= 1).all()
    fill = scaled_column(instance.customers, Target("customers", "min_fill"), 5.0)["min_fill"]
    assert fill.max() <= 1.0
    assert (fill[instance.customers["segment"] == "internal"] == 1.0).all()


# --- results -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 3])
def test_objective_never_falls_as_surplus_grows(tmp_path: Path, seed: int) -> None:
    base = load_instance(generated(tmp_path / "instance", seed))
    spec = SweepSpec(parse_surplus_scales("0,0.5,1,1.5,2"))
    report = run_whatif(base, "instance", tmp_path / "out", spec, EXACT)
    table = sweep_of(tmp_path / "out").sort_values("surplus_scale")
    assert (table["status"] == "optimal").all()
    objective = table["objective"].to_numpy()
    assert all(later >= earlier - 1e-9 * abs(earlier) for earlier, later in pairs(objective))
    offered = table["surplus_wafers_offered"].to_numpy()
    per_wafer = table["marginal_value_per_wafer"].to_numpy()
    assert math.isnan(per_wafer[0])
    for index in range(1, len(table)):
        expected = (objective[index] - objective[index - 1]) / (offered[index] - offered[index - 1])
        assert per_wafer[index] == pytest.approx(expected, rel=1e-9)
        assert per_wafer[index] >= -1e-6
    assert (table["surplus_wafers_used"] <= offered + 1e-6).all()
    assert [path.name for path in report.charts] == ["surplus.png"]
    assert (tmp_path / "out" / "charts" / "surplus.png").read_bytes()[:4] == b"\x89PNG"


def pairs(values: Any) -> list[tuple[float, float]]:
    return list(itertools.pairwise(values))


def modified_copy(
    source: Path,
    folder: Path,
    *,
    surplus_scale: float = 1.0,
    policy: dict[str, float] | None = None,
    factors: dict[str, float] | None = None,
) -> Path:
    """The instance files changed by hand with pandas, independently of allocator.whatif.run."""
    shutil.copytree(source, folder)
    foundry = pd.read_csv(folder / "foundry.csv")
    foundry["surplus_wafers"] = foundry["surplus_wafers"].astype(float) * surplus_scale
    foundry.to_csv(folder / "foundry.csv", index=False)
    for name, factor in (factors or {}).items():
        table, column = name.split(".")
        frame = pd.read_csv(folder / f"{table}.csv")
        frame[column] = frame[column] * factor
        frame.to_csv(folder / f"{table}.csv", index=False)
    settings = tomllib.loads((folder / "instance.toml").read_text(encoding="utf-8"))
    settings["policy"].update(policy or {})
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items() if key != "policy"]
    lines += ["[policy]"] + [f"{key} = {value!r}" for key, value in settings["policy"].items()]
    (folder / "instance.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def solve_separately(instance: Path, out: Path) -> dict[str, Any]:
    result = cli("solve", instance, "--out", out, "--mip-gap", "0", "-q")
    assert result.exit_code == 0, result.output
    return summary_of(out)


def test_each_row_equals_a_separate_solve(tmp_path: Path, small: Path) -> None:
    out = tmp_path / "sweep"
    result = cli(
        "whatif", small, "--out", out, "--surplus-scale", "0.5,2", "--mip-gap", "0",
        "--vary", "policy.third_party_max_share=0.2,0.5",
        "--vary", "orders.price_per_rack=1.1",
        "--workers", "1", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = sweep_of(out)
    assert len(table) == 4
    for name, row in table.iterrows():
        alone = modified_copy(
            small,
            tmp_path / f"instance-{name}",
            surplus_scale=row["surplus_scale"],
            policy={"third_party_max_share": row["policy.third_party_max_share"]},
            factors={"orders.price_per_rack": 1.1},
        )
        separate = solve_separately(alone, tmp_path / f"solve-{name}")
        assert row["status"] == separate["status"] == "optimal"
        assert row["objective"] == pytest.approx(separate["objective"], rel=1e-12)
        terms = separate["objective_terms"]
        assert row["rack_revenue_third_party"] == pytest.approx(terms["rack_revenue_third_party"])
        fill = separate["fill"]
        assert row["internal_waiting_list_racks"] == fill["internal"]["waiting_list_racks"]
        assert row["third_party_racks"] == fill["third_party"]["allocated_racks"]
        assert row["deals_accepted"] == separate["deals_accepted"]
        for file in ("allocation.csv", "surplus.csv", "customers.csv"):
            swept = pd.read_csv(out / "scenarios" / str(name) / file)
            pd.testing.assert_frame_equal(swept, pd.read_csv(tmp_path / f"solve-{name}" / file))
    # the cap binds in this instance: a looser cap is worth something
    loose = table[table["policy.third_party_max_share"] == 0.5]["objective"].to_numpy()
    tight = table[table["policy.third_party_max_share"] == 0.2]["objective"].to_numpy()
    assert (loose > tight).all()


def test_policy_costs_equal_separate_solves(tmp_path: Path, small: Path) -> None:
    out = tmp_path / "sweep"
    result = cli("whatif", small, "--out", out, "--policy-cost", "--mip-gap", "0", "-q")
    assert result.exit_code == 0, result.output
    costs = pd.read_csv(out / "policy_cost.csv").set_index("policy")
    base_summary = solve_separately(small, tmp_path / "base")
    base = base_summary["objective"]
    penalty = base_summary["objective_terms"]["shortfall_penalty"]
    assert costs.loc["internal_min_fill", "of_which_shortfall_penalty"] == pytest.approx(-penalty)
    variants = {
        "third_party_share_cap": {"policy": {"third_party_max_share": 1.0}},
        "internal_min_fill": {"factors": {"customers.min_fill": 0.0}},
        "min_contract_racks": {"factors": {"customers.min_contract_racks": 0}},
    }
    for policy, change in variants.items():
        alone = modified_copy(small, tmp_path / f"instance-{policy}", **change)  # type: ignore[arg-type]
        without = solve_separately(alone, tmp_path / f"solve-{policy}")["objective"]
        assert costs.loc[policy, "cost"] >= 0
        assert costs.loc[policy, "cost"] == pytest.approx(without - base, rel=1e-9, abs=1e-3)
        assert costs.loc[policy, "cost_low"] == pytest.approx(costs.loc[policy, "cost"])
        assert costs.loc[policy, "cost_high"] == pytest.approx(costs.loc[policy, "cost"])
        assert costs.loc[policy, "exact"]
        assert costs.loc[policy, "cost"] > 0  # every policy binds in this instance
    # the default sweep point (surplus x1) is the base: one solve serves both names
    table = sweep_of(out)
    assert table.loc["surplus-x1", "objective"] == table.loc["base", "objective"]
    assert (out / "charts" / "policy_cost.png").is_file()
    # the same folder without --policy-cost: nothing to solve, no stale policy files
    again = cli("whatif", small, "--out", out, "--mip-gap", "0", "-q")
    assert again.exit_code == 0, again.output
    assert "1 already done" in again.output
    assert not (out / "policy_cost.csv").exists()
    assert not (out / "charts" / "policy_cost.png").exists()


# --- resume, failures ----------------------------------------------------------------

KILL_AFTER = 2
KILLED_SWEEP = """
import os, signal, sys
from pathlib import Path
from allocator.solve.pipeline import RunOptions
from allocator.solve.highs import SolverOptions
from allocator.data.validate import load_instance
from allocator.whatif.run import SweepSpec, parse_surplus_scales, run_whatif

written = []

def kill_after(name, row):
    written.append(name)
    if len(written) == {kill_after}:
        os.kill(os.getpid(), signal.SIGKILL)

instance = load_instance(Path(sys.argv[1]))
spec = SweepSpec(parse_surplus_scales("0,0.5,1,1.5,2,3"))
run_whatif(instance, "instance", Path(sys.argv[2]), spec, RunOptions(SolverOptions(mip_gap=0.0)),
           on_written=kill_after)
"""


def test_killed_sweep_resumes_without_solving_twice(tmp_path: Path, small: Path) -> None:
    out = tmp_path / "sweep"
    script = textwrap.dedent(KILLED_SWEEP).replace("{kill_after}", str(KILL_AFTER))
    killed = subprocess.run(
        [sys.executable, "-c", script, str(small), str(out)], capture_output=True, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    before = sweep_of(out)
    assert len(before) == 6
    assert (before["status"] == "optimal").sum() == KILL_AFTER
    assert (before["status"] == "pending").sum() == 6 - KILL_AFTER
    done = {name: marker_of(out, str(name)) for name in before.index[before["status"] != "pending"]}
    assert len(list(out.glob("scenarios/*/scenario.json"))) == KILL_AFTER

    solved: list[str] = []
    report = run_whatif(
        load_instance(small),
        "instance",
        out,
        SweepSpec(parse_surplus_scales("0,0.5,1,1.5,2,3")),
        EXACT,
        on_written=lambda name, row: solved.append(name),
    )
    assert (report.skipped, report.solved) == (KILL_AFTER, 6 - KILL_AFTER)
    assert sorted(solved) == sorted(set(before.index) - set(done))
    after = sweep_of(out)
    assert (after["status"] == "optimal").all()
    assert after["marginal_value_per_wafer"].notna().sum() == 5
    for name, marker in done.items():
        assert marker_of(out, name) == marker  # not solved again, not rewritten
    run_ids = {marker_of(out, str(name))["run_id"] for name in after.index}
    assert len(run_ids) == 2
    again = run_whatif(
        load_instance(small), "instance", out, SweepSpec(parse_surplus_scales("0,0.5,1,1.5,2,3")),
        EXACT,
    )  # fmt: skip
    assert (again.solved, again.skipped) == (0, 6)
    # no temporaries left: only the marker that says allocator wrote this folder
    assert [path.name for path in out.iterdir() if path.name.startswith(".")] == [".allocator"]


def test_failed_scenario_is_a_row_and_is_retried(
    tmp_path: Path, small: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_solve = whatif.solve_instance

    def failing_solve(instance: Any, options: RunOptions) -> Any:
        if instance.policy.third_party_max_share == 0.2:
            raise RuntimeError("HiGHS fell over")
        return real_solve(instance, options)

    monkeypatch.setattr(whatif, "solve_instance", failing_solve)
    out = tmp_path / "sweep"
    vary = ["--vary", "policy.third_party_max_share=0.2,0.5", "--mip-gap", "0"]
    result = cli("whatif", small, "--out", out, *vary, "--workers", "1", "-q")
    assert result.exit_code == 1  # the sweep finished; one scenario failed
    assert "1 scenario(s) failed" in result.stderr
    table = sweep_of(out)
    failed = "surplus-x1__policy.third_party_max_share-0.2"
    assert table.loc[failed, "status"] == "error"
    assert "RuntimeError: HiGHS fell over" in table.loc[failed, "message"]
    assert table.drop(failed)["status"].eq("optimal").all()
    assert summary_of(out / "scenarios" / failed)["status"] == "error"
    spec = SweepSpec((1.0,), (Vary(SHARE, (0.2, 0.5)),))

    monkeypatch.setattr(whatif, "solve_instance", real_solve)
    retried = run_whatif(load_instance(small), "instance", out, spec, EXACT)
    assert (retried.solved, retried.skipped, retried.errors) == (1, 1, 0)
    assert sweep_of(out)["status"].eq("optimal").all()


def test_timed_out_scenario_is_a_row_with_its_gap(tmp_path: Path, small: Path) -> None:
    out = tmp_path / "sweep"
    options = RunOptions(SolverOptions(time_limit=0.0))
    report = run_whatif(load_instance(small), "instance", out, SweepSpec(), options)
    row = sweep_of(out).loc["surplus-x1"]
    assert row["status"] == "time_limit"
    assert row["best_bound"] >= row["objective"] - 1e-6 * abs(row["objective"])
    assert (report.failed, report.errors) == (0, 0)
    assert summary_of(out / "scenarios" / "surplus-x1")["status"] == "time_limit"


def test_infeasible_strict_scenario_is_a_row(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    instance = TINY / "internal-fill-strict-infeasible"
    result = cli(
        "whatif", instance, "--out", out, "--strict", "--surplus-scale", "0,1", "--workers", "1"
    )
    assert result.exit_code == 0, result.output
    table = sweep_of(out)
    assert table["status"].eq("infeasible").all()
    assert table["message"].str.contains("internal_fill[A]", regex=False).all()
    assert (out / "scenarios" / "surplus-x0" / "conflicts.csv").is_file()


def test_breakpoints_mark_where_the_value_per_wafer_drops() -> None:
    nan = float("nan")
    assert find_breakpoints([nan, 10.0, 10.0, 4.0, 0.0]) == [2, 3]
    assert find_breakpoints([nan, 10.0, 9.0, 8.0]) == []  # diminishing returns, no drop
    assert find_breakpoints([nan, 5.0, 5.01, 5.0]) == []
    assert find_breakpoints([nan, 5.0, nan, 1.0]) == []
    assert find_breakpoints([nan]) == []


# --- the Dask path -------------------------------------------------------------------

DASK_SPEC = SweepSpec((0.0, 1.0, 2.0), (Vary(SHARE, (0.2,)),))


@pytest.fixture(scope="module")
def serial_rows(small: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("serial") / "sweep"
    run_whatif(load_instance(small), "instance", out, DASK_SPEC, EXACT)
    return sweep_of(out)


def same_rows(out: Path, serial: pd.DataFrame) -> None:
    table = sweep_of(out)
    assert list(table.index) == list(serial.index)
    assert table["status"].eq("optimal").all()
    pd.testing.assert_series_equal(table["objective"], serial["objective"])
    pd.testing.assert_series_equal(table["hash"], serial["hash"])


def test_local_cluster_matches_serial(tmp_path: Path, small: Path, serial_rows: pd.DataFrame):
    out = tmp_path / "sweep"
    first = SweepSpec((0.0,), DASK_SPEC.varies)
    run_whatif(load_instance(small), "instance", out, first, EXACT)
    report = run_whatif(load_instance(small), "instance", out, DASK_SPEC, EXACT, workers=2)
    assert (report.solved, report.skipped) == (2, 1)
    same_rows(out, serial_rows)
    workers = sweep_of(out)["worker"].str.split(":").str[-1].astype(int)
    assert workers.iloc[0] == os.getpid()  # the first run, in this process
    assert os.getpid() not in set(workers.iloc[1:])  # the rest in worker processes


@pytest.fixture
def dask_scheduler(tmp_path: Path) -> Any:
    """A real scheduler and one worker (two threads: the solve lock is exercised) as
    separate processes on 127.0.0.1, on a free port."""
    scheduler_file = tmp_path / "scheduler.json"
    common = ["--no-dashboard"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--scheduler-file", str(scheduler_file), *common],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", "--scheduler-file", str(scheduler_file),
                 "--nthreads", "2", "--nworkers", "1", "--no-nanny", *common],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        address = json.loads(scheduler_file.read_text(encoding="utf-8"))["address"]
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
        yield address, processes[1].pid
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in reversed(processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_scheduler_path_matches_serial(
    tmp_path: Path, small: Path, serial_rows: pd.DataFrame, dask_scheduler: tuple[str, int]
) -> None:
    address, worker_pid = dask_scheduler
    assert address.startswith("tcp://127.0.0.1:")
    out = tmp_path / "sweep"
    result = cli(
        "whatif", small, "--out", out, "--surplus-scale", "0,1,2", "--mip-gap", "0",
        "--vary", "policy.third_party_max_share=0.2", "--scheduler", address, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    same_rows(out, serial_rows)
    scenario = out / "scenarios" / "surplus-x2__policy.third_party_max_share-0.2"
    assert os.path.isfile(scenario / "allocation.csv")
    workers = sweep_of(out)["worker"].str.split(":").str[-1].astype(int)
    assert (workers == worker_pid).all()  # solved by the worker process, not here
