"""The plan a MIP without a time limit starts from (`allocator.solver.neighbourhood`):
the LP relaxation rounded, filled and improved by RINS, and the MIP stopped once its
bound is within the gap of that plan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from allocator.data.generate import generate_instance
from allocator.data.instance import Instance
from allocator.data.validate import load_instance
from allocator.model.build import build_model
from allocator.plan.check import check_plan
from allocator.plan.tables import objective_terms
from allocator.solver import neighbourhood
from allocator.solver.highs import CompiledModel, SolverOptions, Termination, compile_model
from allocator.solver.neighbourhood import known_plan, neighbourhood_bounds
from allocator.solver.pipeline import RunOptions, solve_instance
from allocator.solver.progress import relative_gap
from allocator.solver.results import extract_plan
from tests.bruteforce import enumerate_optimum, random_tiny, write

ROOT = Path(__file__).resolve().parents[2]


def _compiled(instance: Instance) -> CompiledModel:
    return compile_model(build_model(instance, RunOptions().model_options()))


@pytest.mark.parametrize("seed", range(30))
def test_known_plan_is_a_checked_plan_between_optimum_and_lp(seed: int, tmp_path: Path) -> None:
    """On random tiny instances whose optimum is enumerated: the plan found before the
    MIP passes the plan check, its objective recomputes from its rows, and it lies
    between the LP bound and no better than the optimum."""
    tiny = random_tiny(seed)
    instance = load_instance(write(tiny, tmp_path))
    best = enumerate_optimum(tiny, strict=False)
    assert best is not None
    optimum = best[0]
    compiled = _compiled(instance)
    known = known_plan(instance, compiled, SolverOptions(mip_gap=0.0), strict=False)
    assert known is not None
    plan = extract_plan(instance, compiled, known.values, integral=True)
    assert check_plan(instance, plan, strict=False) == []
    assert sum(objective_terms(instance, plan).values()) == pytest.approx(known.objective, abs=1e-6)
    assert known.objective <= optimum + 1e-6
    assert optimum <= known.lp_bound + 1e-6
    assert known.lp_duals is not None


def test_neighbourhood_fixes_only_columns_where_plan_and_lp_agree() -> None:
    instance = load_instance(ROOT / "instances" / "base-2027")
    compiled = _compiled(instance)
    rng = np.random.default_rng(3)
    integer = np.asarray(compiled.is_integer, dtype=bool)
    lower = np.asarray(compiled.lp.col_lower_)
    upper = np.asarray(compiled.lp.col_upper_)
    plan = np.where(integer, np.minimum(lower + rng.integers(0, 3, len(lower)), upper), 0.0)
    relaxed = plan.copy()
    differ = np.flatnonzero(integer)[:: max(1, integer.sum() // 7)]
    relaxed[differ] += 0.5
    fixed_lower, fixed_upper = neighbourhood_bounds(compiled, relaxed, plan)
    fixed = fixed_lower == fixed_upper
    assert ((fixed_lower <= plan) & (plan <= fixed_upper)).all()
    # a column where they differ is free, and so is what shares a short row with it
    assert not fixed[differ].any()
    assert np.array_equal(fixed_lower[differ], lower[differ])
    assert np.array_equal(fixed_upper[differ], upper[differ])
    # continuous columns keep their bounds; fixed ones are integer columns that agree
    assert np.array_equal(fixed_lower[~integer], lower[~integer])
    assert (integer[fixed & (lower != upper)]).all()
    assert np.array_equal(plan[fixed], relaxed[fixed])
    assert 0 < fixed.sum() < integer.sum()


@pytest.fixture
def every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan first on models of any size (by default from 10k columns)."""
    monkeypatch.setattr(neighbourhood, "MIN_COLUMNS", 0)


@pytest.mark.parametrize("seed", range(40, 70))
def test_pipeline_from_known_plan_matches_enumeration(
    seed: int, tmp_path: Path, every_size: None
) -> None:
    """At gap 0 through `solve_instance`, the plan first: the enumerated optimum."""
    tiny = random_tiny(seed)
    instance = load_instance(write(tiny, tmp_path))
    best = enumerate_optimum(tiny, strict=False)
    assert best is not None
    result = solve_instance(instance, RunOptions(SolverOptions(mip_gap=0.0)))
    assert result.termination == Termination.OPTIMAL
    assert result.objective == pytest.approx(best[0], abs=1e-6)
    assert result.violations == []
    assert "lp_relaxation" in result.timings


def test_base_2027_goes_to_highs_directly() -> None:
    instance = load_instance(ROOT / "instances" / "base-2027")
    assert not neighbourhood.wanted(_compiled(instance))


def test_lp_bound_within_the_gap_skips_the_mip(every_size: None) -> None:
    """base-2027 at gap 1%: the rounded plan is within 1% of the LP bound, so no MIP
    runs and the LP is the bound reported."""
    instance = load_instance(ROOT / "instances" / "base-2027")
    result = solve_instance(instance, RunOptions(SolverOptions(mip_gap=0.01)))
    assert result.termination == Termination.OPTIMAL
    assert result.bound_source == "lp_relaxation"
    assert result.plan_source == "lp_rounding"
    assert result.timings["highs"] == 0.0
    assert result.violations == []
    gap = relative_gap(result.objective, result.best_bound)
    assert gap is not None and gap <= 0.01
    assert result.mip_gap == pytest.approx(gap)
    assert result.marginal_values is not None


def test_stopped_at_the_gap_of_the_known_plan_is_within_it(
    tmp_path: Path, every_size: None
) -> None:
    """A generated instance at the default gap: optimal, its reported gap recomputed
    from the plan's own objective and the bound, and within the gap of the proven
    optimum (gap 0)."""
    folder = tmp_path / "g"
    generate_instance(folder, regions=6, buyers=20, periods=12, seed=5)
    instance = load_instance(folder)
    result = solve_instance(instance, RunOptions())
    assert "neighbourhood" in result.timings
    exact = solve_instance(instance, RunOptions(SolverOptions(mip_gap=0.0)))
    assert result.termination == exact.termination == Termination.OPTIMAL
    assert result.violations == [] and result.objective is not None
    gap = relative_gap(result.objective, result.best_bound)
    assert gap is not None and gap <= 1e-4
    assert exact.objective is not None
    assert result.objective <= exact.objective + 1e-6
    assert result.objective >= exact.objective - 1e-4 * abs(exact.objective)


@pytest.mark.parametrize("seed", [0, 2, 1, 6, 23, 241])
def test_solve_from_known_says_where_its_plan_came_from(seed: int, tmp_path: Path) -> None:
    """At gap 0 the plan is HiGHS's own exactly when its objective is better than the
    known plan's, and the bound is HiGHS's unless the LP bound alone proved the plan.
    Of random tiny instances 0-299 (highspy 1.15.1), 0 and 2 end at the LP bound, 1, 6
    and 23 at HiGHS's bound with the known plan, 241 with a better plan of HiGHS's."""
    instance = load_instance(write(random_tiny(seed), tmp_path))
    compiled = _compiled(instance)
    options = SolverOptions(mip_gap=0.0)
    known = known_plan(instance, compiled, options, strict=False)
    assert known is not None
    ended = neighbourhood.solve_from_known(compiled, options, known)
    assert ended.outcome.objective is not None
    improved = ended.outcome.objective > known.objective + 1e-9 * max(1.0, abs(known.objective))
    lp_gap = relative_gap(known.objective, known.lp_bound)
    if lp_gap is not None and lp_gap <= 0.0:
        assert (ended.plan_source, ended.bound_source) == ("lp_rounding", "lp_relaxation")
    else:
        assert ended.plan_source == ("highs" if improved else "lp_rounding")
        assert ended.bound_source == "highs"
