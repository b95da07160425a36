"""Running a sweep: resume after a kill without solving twice, failures and time-outs as
rows, an error row retried on a rerun."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from allocator.data.validate import load_instance
from allocator.solver.highs import SolverOptions
from allocator.solver.pipeline import RunOptions
from allocator.solver.resolve import VariantSolver
from allocator.whatif.run import run_whatif
from allocator.whatif.spec import SweepSpec, Vary, parse_surplus_scales
from tests.whatif.helpers import EXACT, SHARE, TINY, cli, marker_of, summary_of, sweep_of

KILL_AFTER = 2
KILLED_SWEEP = """
import os, signal, sys
from pathlib import Path
from allocator.solver.pipeline import RunOptions
from allocator.solver.highs import SolverOptions
from allocator.data.validate import load_instance
from allocator.whatif.run import run_whatif
from allocator.whatif.spec import SweepSpec, parse_surplus_scales

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
    real_solve = VariantSolver.solve

    def failing_solve(solver: VariantSolver, instance: Any, options: RunOptions) -> Any:
        if instance.policy.third_party_max_share == 0.2:
            raise RuntimeError("HiGHS fell over")
        return real_solve(solver, instance, options)

    monkeypatch.setattr(VariantSolver, "solve", failing_solve)
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

    monkeypatch.setattr(VariantSolver, "solve", real_solve)
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
