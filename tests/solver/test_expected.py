"""Every shipped instance with a known optimum (an ``expected.toml``) is solved and compared."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from allocator.data.validate import load_instance
from allocator.errors import InfeasibleError
from allocator.solver.highs import SolverOptions
from allocator.solver.pipeline import RunOptions, solve_instance

INSTANCES = Path(__file__).resolve().parents[2] / "instances"
EXPECTED = sorted(INSTANCES.rglob("expected.toml"))


def test_instances_are_shipped() -> None:
    assert len(EXPECTED) >= 20


SLOW = {"base-2027-tiered"}
"""Seven stages and the profit-rule solve, each proven at gap 0: about 2 minutes."""


@pytest.mark.parametrize(
    "expected_file",
    [
        pytest.param(path, marks=pytest.mark.slow) if path.parent.name in SLOW else path
        for path in EXPECTED
    ],
    ids=[str(p.parent.relative_to(INSTANCES)) for p in EXPECTED],
)
def test_expected_optimum(expected_file: Path) -> None:
    expected = tomllib.loads(expected_file.read_text())
    flags = expected.get("options", {})
    assert set(flags) <= {"strict", "relax", "mip_gap", "time_limit"}
    options = RunOptions(
        SolverOptions(mip_gap=flags.get("mip_gap", 0.0), time_limit=flags.get("time_limit")),
        strict=flags.get("strict", False),
        relax=flags.get("relax", False),
    )
    instance = load_instance(expected_file.parent)
    if expected["status"] == "infeasible":
        with pytest.raises(InfeasibleError) as raised:
            solve_instance(instance, options)
        assert raised.value.conflicts, "an infeasible model must name its conflict"
        return
    result = solve_instance(instance, options)
    assert str(result.status) == expected["status"]
    assert result.violations == []
    assert result.objective is not None
    tolerance = expected["tolerance"]
    assert math.isclose(result.objective, expected["objective"], rel_tol=tolerance, abs_tol=1e-6)
    assert result.solver_objective is not None
    assert math.isclose(result.objective, result.solver_objective, rel_tol=1e-9, abs_tol=1e-6)
    if "priority_stages" in expected:  # the lexicographic rule: every stage's value
        stages = [
            (stage.stage.tier, stage.stage.criterion, stage.value)
            for stage in result.priority_stages
        ]
        wanted = [
            (stage.get("tier"), stage["criterion"], stage["value"])
            for stage in expected["priority_stages"]
        ]
        assert [stage[:2] for stage in stages] == [stage[:2] for stage in wanted]
        for (_, _, value), (_, _, expected_value) in zip(stages, wanted, strict=True):
            assert value is not None
            assert math.isclose(value, expected_value, rel_tol=tolerance, abs_tol=1e-6)
    if "priority_cost" in expected:
        assert result.priority_cost is not None
        assert math.isclose(
            result.priority_cost, expected["priority_cost"], rel_tol=tolerance, abs_tol=1e-6
        )
