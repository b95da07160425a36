"""The lexicographic rule's solve: priority_cost is the difference of two separate solves;
a time limit is shared by the stages and holds for the whole solve, every stage reported
with how it ended; strict mode and the LP relaxation follow the rule."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pandas as pd
import pytest

from allocator.data.generate import generate_instance
from allocator.data.validate import load_instance
from allocator.errors import InfeasibleError
from allocator.plan.priority import priority_stages, stage_value
from allocator.solver.deadline import GRACE_SECONDS
from allocator.solver.highs import SolverOptions, Termination
from allocator.solver.pipeline import RunOptions, solve_instance

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "instances" / "tiny"
EXACT = SolverOptions(mip_gap=0.0)


@pytest.fixture(scope="module")
def tiered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated instance, its customers in three tiers, lexicographic with fair share."""
    folder = tmp_path_factory.mktemp("tiered") / "instance"
    generate_instance(folder, regions=3, buyers=6, periods=8, seed=11)
    customers = pd.read_csv(folder / "customers.csv", keep_default_na=False)
    customers["priority"] = [1 + index % 3 for index in range(len(customers))]
    customers.to_csv(folder / "customers.csv", index=False)
    toml = (folder / "instance.toml").read_text(encoding="utf-8")
    toml += 'priority_rule = "lexicographic"\nfair_share = true\n'
    (folder / "instance.toml").write_text(toml, encoding="utf-8")
    return folder


def test_priority_cost_is_the_difference_of_two_separate_solves(tiered: Path) -> None:
    instance = load_instance(tiered)
    result = solve_instance(instance, RunOptions(EXACT))
    profit_rule = dataclasses.replace(instance.policy, priority_rule="profit")
    alone = solve_instance(instance.with_policy(profit_rule), RunOptions(EXACT))
    assert result.objective is not None and alone.objective is not None
    assert result.priority_cost == pytest.approx(alone.objective - result.objective, abs=1e-6)
    assert result.priority_cost is not None and result.priority_cost >= -1e-6
    assert [report.stage for report in result.priority_stages] == priority_stages(instance)
    assert result.plan is not None and result.violations == []
    for report in result.priority_stages[:-1]:  # each stage's value, from the plan's rows
        assert report.termination == Termination.OPTIMAL
        assert report.value is not None
        assert stage_value(instance, result.plan, report.stage) >= report.value - 1e-9


def test_no_priority_cost_skips_the_second_solve(tiered: Path) -> None:
    result = solve_instance(load_instance(tiered), RunOptions(EXACT, priority_cost=False))
    assert result.priority_cost is None and result.priority_stages


def test_a_time_limit_holds_for_every_stage(tiered: Path) -> None:
    """2 s for seven stages and the profit-rule solve: whatever each reaches, the whole
    solve ends by the limit plus its grace, and each stage says how it ended."""
    instance = load_instance(tiered)
    started = time.monotonic()
    result = solve_instance(instance, RunOptions(SolverOptions(time_limit=2.0)))
    assert time.monotonic() - started < 2.0 + GRACE_SECONDS + 3.0  # read-back margin
    assert len(result.priority_stages) == len(priority_stages(instance))
    assert all(report.termination is not None for report in result.priority_stages)
    assert result.plan is not None and result.violations == []


def test_strict_mode_follows_the_rule() -> None:
    """priority-hold-binds-profit has no internal min fill: strict changes nothing."""
    instance = load_instance(TINY / "priority-hold-binds-profit")
    result = solve_instance(instance, RunOptions(EXACT, strict=True))
    assert result.objective == pytest.approx(-40.0)


def test_an_infeasible_strict_instance_is_named_at_the_first_stage(tmp_path: Path) -> None:
    """R must get 1 rack (min fill 1) but none can be made: strict mode is infeasible
    before any stage, and the conflict names its fill row."""
    folder = Path(tmp_path / "instance")
    source = TINY / "priority-tier-before-price"
    folder.mkdir()
    for path in source.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "supply.csv").write_text(
        "product,period,base_racks,surplus_max_racks,surplus_cost\nP,1,0,0,0\n", encoding="utf-8"
    )
    customers = (folder / "customers.csv").read_text(encoding="utf-8")
    (folder / "customers.csv").write_text(
        customers.replace("R,internal,us-east-1,0,", "R,internal,us-east-1,1,"), encoding="utf-8"
    )
    with pytest.raises(InfeasibleError) as raised:
        solve_instance(load_instance(folder), RunOptions(EXACT, strict=True))
    assert any("internal_fill[R]" in conflict for conflict in raised.value.conflicts)


def test_the_lp_relaxation_follows_the_rule() -> None:
    """--relax: fractional racks, same stages; fair share splits 4 racks so that both
    customers reach 50% (A 1, B 3), then profit: 130."""
    instance = load_instance(TINY / "priority-fair-share-split")
    result = solve_instance(instance, RunOptions(EXACT, relax=True))
    assert result.objective == pytest.approx(130.0)
    assert [r.value for r in result.priority_stages[:-1]] == pytest.approx([0.5, 4.0])
