"""Properties of solves on generated tiny instances (hypothesis), and repeatable files
across processes.

Instances come from `bruteforce.random_tiny` (exact data: objectives are multiples of
1/2, so they compare with an absolute tolerance of 1e-6), driven by a drawn generation
mode and seed. The process-level tests run `python -m allocator solve` on fixed
instances: a hypothesis search over processes would take minutes.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.data.instance import Instance, build_instance
from allocator.data.validate import load_instance
from allocator.errors import InfeasibleError
from allocator.plan.check import check_plan
from allocator.plan.tables import objective_terms
from allocator.solver.highs import SolverOptions, Termination
from allocator.solver.pipeline import RunOptions, SolveResult, solve_instance
from allocator.whatif.scenarios import base_tables
from tests.bruteforce import FAMILIES, Tiny, random_tiny, write

ROOT = Path(__file__).resolve().parents[2]
ABS_TOL = 1e-6
MIP = SolverOptions(mip_gap=0.0)

cases = st.tuples(st.sampled_from([None, *FAMILIES]), st.integers(0, 100_000))
"""A generation mode of `random_tiny` (None: every table drawn freely) and a seed."""


def _tiny(case: tuple[str | None, int]) -> Tiny:
    mode, seed = case
    return random_tiny(seed, mode=mode)


def _load(tiny: Tiny) -> Instance:
    with tempfile.TemporaryDirectory() as folder:
        return load_instance(write(tiny, Path(folder)))


def _solve(instance: Instance, *, relax: bool = False, strict: bool = False) -> SolveResult:
    result = solve_instance(
        instance, RunOptions(MIP, strict=strict, relax=relax, marginal_values=False)
    )
    assert result.termination == Termination.OPTIMAL, result.status
    assert result.plan is not None and result.objective is not None
    assert result.solver_objective is not None
    return result


def _optimum(tiny: Tiny) -> float:
    objective = _solve(_load(tiny)).objective
    assert objective is not None
    return objective


# --- LP bound, plan checks, objective terms ----------------------------------------------


@settings(max_examples=12, deadline=None)
@given(case=cases, strict=st.booleans())
def test_lp_bounds_the_mip_and_plans_check(case: tuple[str | None, int], strict: bool) -> None:
    """The LP relaxation's optimum >= the MIP optimum; both plans pass `check_plan`
    (integral for the MIP) and their objective is the sum of `objective_terms`, equal to
    HiGHS's own objective."""
    instance = _load(_tiny(case))
    try:
        mip = _solve(instance, strict=strict)
    except InfeasibleError:
        assert strict  # shipping nothing is always feasible outside strict mode
        return
    lp = _solve(instance, strict=strict, relax=True)
    assert mip.plan is not None and lp.plan is not None
    assert mip.objective is not None and lp.objective is not None
    assert lp.solver_objective is not None and mip.solver_objective is not None
    assert lp.solver_objective >= mip.objective - ABS_TOL, (lp.solver_objective, mip.objective)

    assert check_plan(instance, mip.plan, strict=strict, integral=True) == []
    mip_terms = sum(objective_terms(instance, mip.plan).values())
    assert math.isclose(mip_terms, mip.objective, rel_tol=0, abs_tol=ABS_TOL)
    assert math.isclose(mip_terms, mip.solver_objective, rel_tol=0, abs_tol=ABS_TOL)
    assert mip.objective_terms == objective_terms(instance, mip.plan)

    assert check_plan(instance, lp.plan, strict=strict, integral=False) == []
    lp_terms = sum(objective_terms(instance, lp.plan).values())
    assert math.isclose(lp_terms, lp.solver_objective, rel_tol=1e-9, abs_tol=ABS_TOL)
    assert math.isclose(lp_terms, lp.objective, rel_tol=1e-9, abs_tol=ABS_TOL)


# --- monotone in the supply -------------------------------------------------------------


def _with_base_racks(tiny: Tiny, product: str, period: int, more: int) -> Tiny:
    supply = [dict(row) for row in tiny.rows("supply")]
    for row in supply:
        if (row["product"], row["period"]) == (product, period):
            row["base_racks"] += more
            break
    else:
        supply.append(
            {
                "product": product,
                "period": period,
                "base_racks": more,
                "surplus_max_racks": 0,
                "surplus_cost": 0,
            }
        )
    return Tiny(tiny.periods, tiny.share, tiny.penalty, {**tiny.tables, "supply": supply})


def _with_surplus_wafers(tiny: Tiny, period: int, more: float) -> Tiny:
    offered = {row["period"]: row["surplus_wafers"] for row in tiny.rows("foundry")}
    offered[period] = offered.get(period, 0) + more
    foundry = [{"period": t, "surplus_wafers": w} for t, w in sorted(offered.items())]
    return Tiny(tiny.periods, tiny.share, tiny.penalty, {**tiny.tables, "foundry": foundry})


@settings(max_examples=10, deadline=None)
@given(case=cases, pick=st.integers(0, 1_000), more=st.integers(1, 2))
def test_optimum_grows_with_base_racks_up_to_holding(
    case: tuple[str | None, int], pick: int, more: int
) -> None:
    """k more base racks of p in period t never lower the optimum by more than holding
    them to the end: the old plan stays feasible, with k racks more in stock from t to
    the last period (SPEC has no way to discard racks). With holding_cost 0 the optimum
    is monotone non-decreasing."""
    tiny = _tiny(case)
    products = tiny.rows("products")
    product = products[pick % len(products)]
    period = 1 + (pick // len(products)) % tiny.periods
    grown = _with_base_racks(tiny, product["product"], period, more)
    carried = more * product["holding_cost"] * (tiny.periods - period + 1)
    before, after = _optimum(tiny), _optimum(grown)
    assert after >= before - carried - ABS_TOL, (before, after, carried)
    if product["holding_cost"] == 0:
        assert after >= before - ABS_TOL


def test_more_base_racks_can_lower_the_optimum_by_their_holding_cost() -> None:
    """Why the property above allows the holding cost: stock-balance-carry holds 3 racks
    at 5 a period for an order of 2 in period 2; a fourth base rack in period 2 cannot
    ship and costs 5 to hold."""
    instance_dir = ROOT / "instances" / "tiny" / "stock-balance-carry"
    instance = load_instance(instance_dir)
    before = _solve(instance).objective
    grown = instance.supply.assign(
        base_racks=instance.supply["base_racks"] + (instance.supply["period"] == 2).astype(int)
    )
    tables = {**base_tables(instance), "supply": grown}
    after = _solve(build_instance(instance.settings, tables)).objective
    assert before == 180.0 and after == 175.0


@settings(max_examples=10, deadline=None)
@given(
    case=cases,
    period=st.integers(1, 3),
    more=st.sampled_from([0.5, 1, 1.5, 2, 3]),
)
def test_optimum_grows_with_surplus_wafers(
    case: tuple[str | None, int], period: int, more: float
) -> None:
    """More surplus wafers offered in a period only widen the choice of surplus racks."""
    tiny = _tiny(case)
    grown = _with_surplus_wafers(tiny, 1 + (period - 1) % tiny.periods, more)
    assert _optimum(grown) >= _optimum(tiny) - ABS_TOL


# --- the same files from separate processes ---------------------------------------------

TIMING_KEYS = ("solve_seconds", "timings_seconds", "written_at")
"""summary.json keys that measure the run, not the plan."""
PROCESS_INSTANCES = [
    ROOT / "instances" / "tiny" / "services-two-products",
    ROOT / "instances" / "base-2027",
]


def _solve_process(instance_dir: Path, out: Path, hash_seed: int, *extra: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    command = [sys.executable, "-m", "allocator", "solve", str(instance_dir), "--out", str(out)]
    run = subprocess.run(
        [*command, "-q", *extra], env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr


def _solve_processes(runs: list[tuple[Path, Path, int, tuple[str, ...]]]) -> None:
    """Run the solves two at a time (the test machine has 2 cores)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in [pool.submit(_solve_process, i, o, h, *extra) for i, o, h, extra in runs]:
            done.result()


def _assert_same_files(first: Path, second: Path) -> None:
    names = sorted(path.name for path in first.iterdir())
    assert names == sorted(path.name for path in second.iterdir())
    csvs = [name for name in names if name.endswith(".csv")]
    assert {"allocation.csv", "surplus.csv", "customers.csv", "stock.csv"} <= set(csvs)
    for name in csvs:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    summaries = [json.loads((folder / "summary.json").read_text()) for folder in (first, second)]
    for summary in summaries:
        for key in TIMING_KEYS:
            summary.pop(key)
    assert summaries[0] == summaries[1]


@pytest.mark.parametrize("instance_dir", PROCESS_INSTANCES, ids=lambda p: p.name)
def test_files_do_not_depend_on_the_hash_seed(instance_dir: Path, tmp_path: Path) -> None:
    """Two processes with different PYTHONHASHSEED (set iteration order) write the same
    bytes in every CSV, and summary.json differs only in timings."""
    _solve_processes(
        [
            (instance_dir, tmp_path / "seed1", 1, ()),
            (instance_dir, tmp_path / "seed2", 2, ()),
        ]
    )
    _assert_same_files(tmp_path / "seed1", tmp_path / "seed2")


@pytest.mark.parametrize("instance_dir", PROCESS_INSTANCES, ids=lambda p: p.name)
def test_two_thread_solves_repeat(instance_dir: Path, tmp_path: Path) -> None:
    """HiGHS with --threads 2: two runs (at the same time, so their threads compete for
    the 2 cores) write the same files."""
    _solve_processes(
        [
            (instance_dir, tmp_path / "first", 1, ("--threads", "2")),
            (instance_dir, tmp_path / "second", 1, ("--threads", "2")),
        ]
    )
    _assert_same_files(tmp_path / "first", tmp_path / "second")
    summary = json.loads((tmp_path / "first" / "summary.json").read_text())
    assert summary["options"]["solver"]["threads"] == 2
