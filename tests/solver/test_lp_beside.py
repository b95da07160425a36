"""The LP relaxation solved in a second process gives the same marginal values as the
one solved in-process, and a child that fails falls back to the in-process LP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import allocator.solver.child
import allocator.solver.highs
from allocator.data.validate import load_instance
from allocator.model.build import ModelOptions, build_model
from allocator.solver.highs import SolverOptions, compile_model, lp_duals, start_lp_duals_beside
from allocator.solver.pipeline import RunOptions, solve_instance

BASE = Path(__file__).resolve().parents[2] / "instances" / "base-2027"


@pytest.fixture
def beside_always(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the side process whatever the model's size and the machine's cores."""
    monkeypatch.setattr(allocator.solver.highs, "LP_BESIDE_MIN_COLUMNS", 0)
    monkeypatch.setattr(allocator.solver.highs, "spare_core", lambda threads: True)


@pytest.mark.usefixtures("beside_always")
def test_duals_beside_equal_duals_in_process() -> None:
    compiled = compile_model(build_model(load_instance(BASE), ModelOptions()))
    beside = start_lp_duals_beside(compiled, SolverOptions())
    assert beside is not None
    finished, duals = beside.result()
    assert finished
    here = lp_duals(compiled, SolverOptions())
    assert duals is not None and here is not None
    np.testing.assert_array_equal(duals, here)


@pytest.mark.usefixtures("beside_always")
def test_marginal_values_same_with_and_without_side_process() -> None:
    instance = load_instance(BASE)
    beside = solve_instance(instance, RunOptions(lp_beside=True))
    here = solve_instance(instance, RunOptions(lp_beside=False))
    assert "lp_relaxation_wait" in beside.timings
    assert "lp_relaxation_wait" not in here.timings
    assert beside.marginal_values is not None and here.marginal_values is not None
    pd.testing.assert_frame_equal(beside.marginal_values, here.marginal_values)
    assert beside.marginal_values_source == "lp_relaxation"


@pytest.mark.usefixtures("beside_always")
def test_failed_child_falls_back_to_the_lp_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child that exits without answering: the marginal values still come, from the
    LP solved in this process."""
    monkeypatch.setattr(allocator.solver.child.sys, "executable", "/bin/true")
    instance = load_instance(BASE)
    result = solve_instance(instance, RunOptions(lp_beside=True))
    reference = solve_instance(instance, RunOptions(lp_beside=False))
    assert result.marginal_values is not None and reference.marginal_values is not None
    pd.testing.assert_frame_equal(result.marginal_values, reference.marginal_values)
