"""The command line end to end: exit codes, the files a solve writes (SPEC columns),
strict infeasibility, model export, marginal values worked out by hand, time limits and
repeatability. Runs in-process through typer's CliRunner except where the real
process exit code is the point."""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import sys
from pathlib import Path

import highspy
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from allocator.cli import app

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "instances" / "tiny"
RUNNER = CliRunner()
ALLOCATOR = [sys.executable, "-m", "allocator"]
"""The installed command, run with this interpreter (CI does not put the venv on PATH)."""
HAS_GENERATE = (ROOT / "allocator" / "data" / "generate.py").exists()
needs_generate = pytest.mark.skipif(
    not HAS_GENERATE, reason="allocator/data/generate.py is missing"
)

OUTPUT_FILES = {
    ".allocator",  # the marker: allocator wrote this folder and may replace it
    "summary.json",
    "allocation.csv",
    "surplus.csv",
    "customers.csv",
    "stock.csv",
    "marginal_values.csv",
}
ALLOCATION_COLUMNS = ["order", "customer", "segment", "product", "period", "ship_period", "racks"]
SURPLUS_COLUMNS = ["product", "period", "racks"]
MARGINAL_COLUMNS = ["resource", "item", "period", "value"]


def cli(*args: str | Path) -> Result:
    return RUNNER.invoke(app, [str(arg) for arg in args], catch_exceptions=False)


def solve_ok(*args: str | Path) -> Result:
    result = cli("solve", *args, "-q")
    assert result.exit_code == 0, result.output
    return result


def summary_of(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic instance (a few hundred integer variables)."""
    if not HAS_GENERATE:
        pytest.skip("allocator/data/generate.py is missing")
    folder = tmp_path_factory.mktemp("generated") / "instance"
    result = cli(
        "generate", folder, "--regions", "4", "--buyers", "8", "--periods", "12", "--seed", "7"
    )
    assert result.exit_code == 0, result.output
    return folder


# --- exit 0 and the files written ----------------------------------------------------


def test_solve_writes_every_output_with_spec_columns(tmp_path: Path) -> None:
    out = tmp_path / "out"
    solve_ok(TINY / "services-waterfall", "--out", out)
    assert {path.name for path in out.iterdir()} >= OUTPUT_FILES

    summary = summary_of(out)
    for key in ("status", "objective", "best_bound", "mip_gap", "solve_seconds"):
        assert key in summary
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(170.0)
    terms = summary["objective_terms"]
    assert terms["rack_revenue_internal"] == pytest.approx(100.0)
    assert terms["service_margin_storage"] == pytest.approx(50.0)
    assert terms["service_margin_security"] == pytest.approx(20.0)
    assert sum(terms.values()) == pytest.approx(summary["objective"])
    assert summary["marginal_values_source"] == "lp_relaxation"

    allocation = pd.read_csv(out / "allocation.csv")
    assert list(allocation.columns) == ALLOCATION_COLUMNS
    assert allocation.to_dict("records") == [
        {
            "order": "oa",
            "customer": "A",
            "segment": "internal",
            "product": "P",
            "period": 1,
            "ship_period": 1,
            "racks": 1,
        }
    ]
    assert list(pd.read_csv(out / "surplus.csv").columns) == SURPLUS_COLUMNS
    assert list(pd.read_csv(out / "marginal_values.csv").columns) == MARGINAL_COLUMNS

    customers = pd.read_csv(out / "customers.csv").set_index("customer")
    assert {"segment", "requested", "allocated", "fill_rate", "waiting_list_racks"} <= set(
        customers.columns
    )
    assert customers.loc["A", "fill_rate"] == pytest.approx(1.0)
    assert customers.loc["B", "waiting_list_racks"] == 1
    stock = pd.read_csv(out / "stock.csv")
    assert {"product", "period", "stock"} <= set(stock.columns)


def test_generated_plan_rows_are_positive(tmp_path: Path, generated: Path) -> None:
    out = tmp_path / "out"
    solve_ok(generated, "--out", out)
    allocation = pd.read_csv(out / "allocation.csv")
    surplus = pd.read_csv(out / "surplus.csv")
    assert list(allocation.columns) == ALLOCATION_COLUMNS
    assert list(surplus.columns) == SURPLUS_COLUMNS
    assert len(allocation) > 0
    assert (allocation["racks"] > 0).all()
    assert (surplus["racks"] > 0).all()
    assert (allocation["ship_period"] >= allocation["period"]).all()


def test_rerun_replaces_result_and_leaves_no_temporaries(tmp_path: Path) -> None:
    out = tmp_path / "out"
    solve_ok(TINY / "services-waterfall", "--out", out)
    (out / "stale.txt").write_text("from an older run", encoding="utf-8")
    solve_ok(TINY / "third-party-deal-accepted", "--out", out)
    assert {path.name for path in out.iterdir()} == OUTPUT_FILES
    assert summary_of(out)["objective"] == pytest.approx(500.0)
    assert [path.name for path in tmp_path.iterdir()] == ["out"]


def test_out_is_required(tmp_path: Path) -> None:
    result = cli("solve", TINY / "services-waterfall")
    assert result.exit_code == 2  # a usage error: the input given is invalid
    assert "--out" in result.stderr


# --- exit 3: strict mode -------------------------------------------------------------


def test_strict_infeasible_exit_3_names_conflict(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli("solve", TINY / "internal-fill-strict-infeasible", "--out", out, "--strict")
    assert result.exit_code == 3, result.output
    assert "internal_fill[A]" in result.stderr
    assert "stock_balance[P,1]" in result.stderr
    summary = summary_of(out)
    assert summary["status"] == "infeasible"
    assert {"internal_fill[A]", "stock_balance[P,1]"} <= set(summary["conflicts"])
    assert not (out / "allocation.csv").exists()


def test_strict_subprocess_exit_code(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            *ALLOCATOR,
            "solve",
            str(TINY / "internal-fill-strict-infeasible"),
            "--out",
            str(tmp_path / "out"),
            "--strict",
            "-q",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 3, run.stderr
    assert "internal_fill[A]" in run.stderr


def test_solve_subprocess_skips_teardown_after_flushing(tmp_path: Path) -> None:
    """A successful `solve` ends with os._exit: the summary table still reaches stdout
    through a pipe and the result folder is complete."""
    out = tmp_path / "out"
    run = subprocess.run(
        [*ALLOCATOR, "solve", str(TINY / "stock-balance-carry"), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "objective" in run.stdout.lower()
    assert "written to" in run.stdout
    assert run.stdout.rstrip().endswith("┘")  # the table's last line: all of it flushed
    for name in ("allocation.csv", "summary.json", "marginal_values.csv", "customers.csv"):
        assert (out / name).exists(), name
    assert summary_of(out)["status"] == "optimal"


def test_solve_inside_another_program_leaves_the_collector_on(tmp_path: Path) -> None:
    """`solve` leaves Python's cyclic collector paused only where the process ends with
    the command (`main`): called as `app` from a program (here the tests), it gives the
    collector back enabled, failed or not."""
    assert gc.isenabled()
    ok = RUNNER.invoke(
        app, ["solve", str(TINY / "stock-balance-carry"), "--out", str(tmp_path / "ok")]
    )
    assert ok.exit_code == 0, ok.output
    assert gc.isenabled()
    broken = tmp_path / "broken"  # read inside the paused stretch, and rejected there
    broken.mkdir()
    (broken / "orders.csv").write_text("order\n")
    bad = RUNNER.invoke(app, ["solve", str(broken), "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2, bad.output
    assert gc.isenabled()


def test_strict_feasible_and_non_strict_penalty(tmp_path: Path) -> None:
    solve_ok(TINY / "internal-fill-strict-feasible", "--out", tmp_path / "a", "--strict")
    assert summary_of(tmp_path / "a")["status"] == "optimal"
    # Without --strict the same infeasible instance has a plan: the shortfall is penalized.
    solve_ok(TINY / "internal-fill-strict-infeasible", "--out", tmp_path / "b")
    summary = summary_of(tmp_path / "b")
    assert summary["objective"] == pytest.approx(2 * 80 - 1000.0 * 1)


# --- model export --------------------------------------------------------------------


def highs_optimum(path: Path) -> float:
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("mip_rel_gap", 0.0)
    highs.setOptionValue("threads", 1)
    assert highs.readModel(str(path)) == highspy.HighsStatus.kOk
    highs.run()
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return float(highs.getInfo().objective_function_value)


@pytest.mark.parametrize("suffix", [".mps", ".lp"])
def test_write_model_writes_only_the_model(suffix: str, tmp_path: Path, generated: Path) -> None:
    model = tmp_path / "export" / f"x{suffix}"
    out = tmp_path / "out"
    result = cli("solve", generated, "--write-model", model, "--out", out)
    assert result.exit_code == 0, result.output
    assert model.is_file()
    assert model.stat().st_size > 0
    assert not out.exists()
    assert sorted(path.name for path in model.parent.iterdir()) == [model.name]


def test_exported_mps_has_the_same_optimum(tmp_path: Path, generated: Path) -> None:
    model = tmp_path / "x.mps"
    assert cli("solve", generated, "--write-model", model).exit_code == 0
    solve_ok(generated, "--out", tmp_path / "out", "--mip-gap", "0")
    summary = summary_of(tmp_path / "out")
    assert summary["status"] == "optimal"
    assert highs_optimum(model) == pytest.approx(summary["objective"], rel=1e-9)


def test_write_model_rejects_other_suffix(tmp_path: Path) -> None:
    model = tmp_path / "x.txt"
    result = cli("solve", TINY / "services-waterfall", "--write-model", model)
    assert result.exit_code == 2  # a usage error: the input given is invalid
    assert not model.exists()


# --- marginal values worked out by hand ----------------------------------------------

DUALS_INSTANCE = {
    "instance.toml": (
        'name = "duals-by-hand"\nperiods = 2\n[policy]\n'
        "third_party_max_share = 1.0\ninternal_shortfall_penalty = 0.0\n"
    ),
    "products.csv": (
        "product,available_from,wafers_per_rack,power_kw,holding_cost,initial_inventory\n"
        "P,1,2,10,0,0\n"
    ),
    "supply.csv": (
        "product,period,base_racks,surplus_max_racks,surplus_cost\nP,1,0,10,10\nP,2,3,0,0\n"
    ),
    "foundry.csv": "period,surplus_wafers\n1,4\n",
    "customers.csv": (
        "customer,segment,region,min_fill,onboarding_cost,min_contract_racks\n"
        "A,internal,r1,0,0,0\nB,internal,r2,0,0,0\n"
    ),
    "orders.csv": (
        "order,customer,product,period,racks,price_per_rack,max_delay,delay_penalty\n"
        "a,A,P,1,5,100,0,0\nb,B,P,2,5,50,0,0\n"
    ),
    "services.csv": "service,product,margin_per_rack\n",
    "attach.csv": "customer,service,attach_rate\n",
    "regions.csv": "region,period,power_kw\nr2,2,15\n",
}


def test_relax_marginal_values_match_hand_computed_duals(tmp_path: Path) -> None:
    """Period 1: no base racks; surplus racks cost 10 and take 2 wafers, 4 wafers are
    offered, so 2 racks are made for order a (5 racks at 100): the foundry row binds.
    Period 2: 3 base racks, but region r2 has 15 kW for order b (5 racks at 50, 10 kW
    each), so b gets 1.5 racks and 1.5 racks stay in stock (no holding cost).

    * one more wafer in period 1: half a rack more for a, (100 - 10) / 2 = 45;
      period 2 has no surplus to use it: 0
    * one more base rack in period 1 ships to a (still 3 short): 100; in period 2 it
      only adds to the stock: 0
    * one more kW in r2, period 2: 0.1 rack more for b: 50 / 10 = 5
    LP optimum: 2 * 100 - 2 * 10 + 1.5 * 50 = 255.
    """
    instance = tmp_path / "instance"
    instance.mkdir()
    for name, text in DUALS_INSTANCE.items():
        (instance / name).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    solve_ok(instance, "--out", out, "--relax")

    summary = summary_of(out)
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(255.0)
    assert summary["marginal_values_source"] == "lp"
    shipped = pd.read_csv(out / "allocation.csv").set_index("order")["racks"]
    assert shipped.to_dict() == pytest.approx({"a": 2.0, "b": 1.5})

    marginal = pd.read_csv(out / "marginal_values.csv", keep_default_na=False)
    assert list(marginal.columns) == MARGINAL_COLUMNS
    got = {
        (row.resource, row.item, int(row.period)): float(row.value) for row in marginal.itertuples()
    }
    assert got == pytest.approx(
        {
            ("surplus_wafers", "", 1): 45.0,
            ("surplus_wafers", "", 2): 0.0,
            ("base_racks", "P", 1): 100.0,
            ("base_racks", "P", 2): 0.0,
            ("region_power", "r2", 2): 5.0,
        },
        abs=1e-7,
    )


# --- time limit and repeatability ----------------------------------------------------


@needs_generate
def test_time_limited_solve_keeps_a_plan(tmp_path: Path) -> None:
    """A MIP that takes longer than the limit (with --mip-gap 0) stops with its incumbent."""
    instance = tmp_path / "bigger"
    args = ("--regions", "8", "--buyers", "20", "--periods", "24", "--seed", "3")
    assert cli("generate", instance, *args).exit_code == 0
    out = tmp_path / "out"
    solve_ok(instance, "--out", out, "--time-limit", "1", "--mip-gap", "0")
    summary = summary_of(out)
    assert summary["status"] in ("time_limit", "optimal")
    # No assertion on seconds: HiGHS checks its clock only between steps, and a loaded
    # CI machine makes any bound flaky (speed lives in benchmarks/, not in unit tests).
    assert summary["objective"] is not None
    assert summary["objective"] <= summary["best_bound"] * (1 + 1e-9)
    if summary["status"] == "time_limit":
        assert summary["mip_gap"] >= 0
    allocation = pd.read_csv(out / "allocation.csv")
    assert len(allocation) > 0
    assert (allocation["racks"] > 0).all()


def test_same_instance_and_options_give_identical_files(tmp_path: Path, generated: Path) -> None:
    for run in ("first", "second"):
        solve_ok(generated, "--out", tmp_path / run)
    for name in ("allocation.csv", "surplus.csv", "customers.csv", "stock.csv"):
        first = (tmp_path / "first" / name).read_bytes()
        assert first == (tmp_path / "second" / name).read_bytes(), name


def test_copied_instance_keeps_its_content_hash(tmp_path: Path) -> None:
    """Copying an instance elsewhere changes the recorded source, not the content hash."""
    copy = Path(shutil.copytree(TINY / "services-waterfall", tmp_path / "copy"))
    solve_ok(TINY / "services-waterfall", "--out", tmp_path / "a")
    solve_ok(copy, "--out", tmp_path / "b")
    first, second = summary_of(tmp_path / "a"), summary_of(tmp_path / "b")
    assert first["instance"]["content_hash"] == second["instance"]["content_hash"]
    assert first["instance"]["source"] != second["instance"]["source"]


# --- help ----------------------------------------------------------------------------


def test_help() -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("solve", "validate", "generate"):
        assert command in result.stdout
    solve_help = cli("solve", "--help")
    assert solve_help.exit_code == 0
    for option in ("--out", "--time-limit", "--mip-gap", "--threads", "--relax", "--strict"):
        assert option in solve_help.stdout


def test_help_subprocess() -> None:
    run = subprocess.run([*ALLOCATOR, "--help"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "solve" in run.stdout
