"""Under the lexicographic rule the MIP's stages and objective equal the exhaustive
enumeration's on random tiny instances with random tiers and fair share
(`tests.bruteforce_priority`: every feasible plan, filtered by each stage in turn)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from allocator.data.validate import load_instance
from allocator.solver.highs import SolverOptions
from allocator.solver.pipeline import RunOptions, solve_instance
from tests.bruteforce import enumerate_optimum, score
from tests.bruteforce_priority import enumerate_lexicographic, stages_of, tiered, write_tiered

SEEDS = range(40)
EXACT = RunOptions(SolverOptions(mip_gap=0.0), priority_cost=False)


@pytest.mark.parametrize("seed", SEEDS)
def test_stages_and_objective_equal_the_enumeration(tmp_path: Path, seed: int) -> None:
    tiny, tiers, fair_share = tiered(seed)
    expected = enumerate_lexicographic(tiny, tiers, fair_share)
    instance = load_instance(write_tiered(tiny, tiers, fair_share, tmp_path / "instance"))
    result = solve_instance(instance, EXACT)
    if expected is None:
        assert result.plan is None or result.violations, tiny.describe()
        return
    values, objective, _ = expected
    assert result.plan is not None and result.violations == [], tiny.describe()
    stages = stages_of(tiny, tiers, fair_share)
    reported = [(s.stage.tier, s.stage.criterion) for s in result.priority_stages[:-1]]
    assert reported == stages
    for report, value in zip(result.priority_stages[:-1], values, strict=True):
        assert report.value is not None
        assert math.isclose(report.value, float(value), rel_tol=0, abs_tol=1e-9), tiny.describe()
    assert result.objective is not None
    assert math.isclose(result.objective, objective, rel_tol=0, abs_tol=1e-6), tiny.describe()


def test_the_tiers_change_the_optimum_often_enough() -> None:
    """The cross-check means something: in several drawn instances the lexicographic
    optimum is below the profit rule's."""
    changed = 0
    for seed in SEEDS:
        tiny, tiers, fair_share = tiered(seed)
        lexicographic = enumerate_lexicographic(tiny, tiers, fair_share)
        profit = enumerate_optimum(tiny)
        if lexicographic is not None and profit is not None:
            assert lexicographic[1] <= profit[0] + 1e-9
            changed += lexicographic[1] < profit[0] - 1e-6
    assert changed >= 5, changed


def test_the_enumerated_plan_scores_as_its_objective() -> None:
    for seed in range(10):
        tiny, tiers, fair_share = tiered(seed)
        found = enumerate_lexicographic(tiny, tiers, fair_share)
        if found is not None:
            assert score(tiny, found[2]) == pytest.approx(found[1], abs=1e-9)
