"""allocator's compiler (`allocator.solver.compile`) gives, array for array, what Pyomo's
standard-form compiler gives: on every shipped instance, strict and relaxed, a generated
one, the nightly model with stability terms, and hand-made models with the cases the
fast path hands to Pyomo (a range, a fixed variable, a parameter, a duplicate, an unused
column, a constant row)."""

from __future__ import annotations

import gc
import math
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.common.errors import InfeasibleConstraintException
from pyomo.core.expr.numeric_expr import LinearExpression
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from allocator.data.generate import generate_instance
from allocator.data.validate import load_instance
from allocator.model.build import ModelOptions, build_model
from allocator.model.stability import StabilityOptions, stability_extension
from allocator.nightly.baseline import SHIP_COLUMNS, Baseline
from allocator.solver import memory, neighbourhood, pipeline
from allocator.solver.compile import compile_arrays
from allocator.solver.highs import SolverOptions
from allocator.solver.pipeline import RunOptions, solve_instance

ROOT = Path(__file__).resolve().parents[2]
INSTANCES = [*sorted((ROOT / "instances" / "tiny").iterdir()), ROOT / "instances" / "base-2027"]


def assert_same_as_pyomo(model: pyo.ConcreteModel) -> None:
    ours = compile_arrays(model)
    info = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
    assert [id(var) for var in ours.columns] == [id(var) for var in info.columns]
    names = ours.names
    assert [names.row_name(row) for row in range(len(info.rows))] == [
        row.constraint.name for row in info.rows
    ]
    assert [names.column_name(column) for column in range(len(info.columns))] == [
        var.name for var in info.columns
    ]
    assert [id(var) for var in names.variables(model)] == [id(var) for var in info.columns]
    rhs = np.asarray(info.rhs, dtype=float)
    multipliers = np.asarray([multiplier for _, multiplier in info.rows])
    arrays = ours.arrays
    np.testing.assert_array_equal(arrays.row_lower, np.where(multipliers <= 0, rhs, -math.inf))
    np.testing.assert_array_equal(arrays.row_upper, np.where(multipliers >= 0, rhs, math.inf))
    cost = info.c.toarray()[0] if info.c.shape[0] else np.zeros(len(info.columns))
    np.testing.assert_array_equal(arrays.col_cost, cost)
    np.testing.assert_array_equal(arrays.a_start, info.A.indptr)
    np.testing.assert_array_equal(arrays.a_index, info.A.indices)
    np.testing.assert_array_equal(arrays.a_value, info.A.data)
    bounds = [var.bounds for var in info.columns]
    np.testing.assert_array_equal(
        arrays.col_lower, [-math.inf if low is None else low for low, _ in bounds]
    )
    np.testing.assert_array_equal(
        arrays.col_upper, [math.inf if high is None else high for _, high in bounds]
    )
    offset = float(info.c_offset[0]) if len(info.c_offset) else 0.0
    assert ours.offset == offset
    sense = info.objectives[0].sense if info.objectives else pyo.minimize
    assert ours.maximize == (sense == pyo.maximize)


@pytest.mark.parametrize("path", INSTANCES, ids=lambda path: path.name)
@pytest.mark.parametrize(
    "options", [ModelOptions(), ModelOptions(strict=True), ModelOptions(relax=True)], ids=str
)
def test_shipped_instances_compile_as_pyomo_does(path: Path, options: ModelOptions) -> None:
    model = build_model(load_instance(path), options)
    try:
        assert_same_as_pyomo(model)
    except InfeasibleConstraintException:
        with pytest.raises(InfeasibleConstraintException):
            LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)


def test_a_generated_instance_compiles_as_pyomo_does(tmp_path: Path) -> None:
    generate_instance(tmp_path / "g", regions=3, buyers=12, periods=12, seed=3)
    assert_same_as_pyomo(build_model(load_instance(tmp_path / "g"), ModelOptions()))


@pytest.mark.parametrize("frozen, penalty", [(0, 0.0), (3, 0.0), (3, 5e4), (0, 5e4)])
def test_the_nightly_model_compiles_as_pyomo_does(frozen: int, penalty: float) -> None:
    """Stability rows and variables, and an objective that is no longer one
    LinearExpression (SPEC's objective minus the stability cost)."""
    instance = load_instance(ROOT / "instances" / "base-2027")
    plan = solve_instance(instance, RunOptions(SolverOptions(), marginal_values=False)).plan
    assert plan is not None
    baseline = Baseline(1, 0, plan.allocation[SHIP_COLUMNS], plan, [])
    extend, _setup = stability_extension(
        instance, baseline, StabilityOptions(frozen, penalty, mip_start=True)
    )
    model = build_model(instance, ModelOptions())
    extend(model)
    assert_same_as_pyomo(model)


def test_the_cases_handed_to_pyomo_compile_as_pyomo_does() -> None:
    model = pyo.ConcreteModel()
    model.p = pyo.Param(initialize=3.0, mutable=True)
    model.x = pyo.Var(range(4), bounds=(0, 10))
    model.unused = pyo.Var(range(2))
    model.z = pyo.Var(domain=pyo.Binary)
    model.x[3].fix(2.0)
    x = model.x

    def linear(coefs: list[float], variables: list[pyo.Var], constant: float = 0) -> object:
        return LinearExpression(constant=constant, linear_coefs=coefs, linear_vars=variables)

    model.ranged = pyo.Constraint(expr=(1.0, linear([1.0, 2.0], [x[0], x[1]], 0.5), 7.0))
    model.with_fixed = pyo.Constraint(expr=linear([1.0, 1.0], [x[0], x[3]]) <= 5)
    model.with_param = pyo.Constraint(expr=model.p * x[1] + x[2] >= 1)
    model.duplicate = pyo.Constraint(expr=linear([1.0, 2.0, 0.0], [x[2], x[2], x[1]]) == 4)
    model.cancelled = pyo.Constraint(expr=linear([1.0, -1.0], [x[0], x[0]]) <= 9)
    model.only_fixed = pyo.Constraint(expr=linear([1.0], [x[3]]) <= 4)
    model.generic = pyo.Constraint(expr=2 * (x[1] - model.z) <= 3)
    model.inactive = pyo.Constraint(expr=x[0] + x[1] <= 1)
    model.inactive.deactivate()
    model.objective = pyo.Objective(
        expr=linear([1.0, 4.0], [model.z, x[2]], 6.0) - 2 * x[1], sense=pyo.maximize
    )
    assert_same_as_pyomo(model)
    compiled = compile_arrays(model)
    names = [compiled.names.row_name(row) for row in range(len(compiled.names.row_index))]
    assert names.count("ranged") == 2
    assert "cancelled" not in names and "inactive" not in names


def test_a_constant_row_that_fails_is_infeasible() -> None:
    model = pyo.ConcreteModel()
    model.x = pyo.Var(bounds=(0, 1))
    model.x.fix(2.0)
    body = LinearExpression(constant=0, linear_coefs=[1.0], linear_vars=[model.x])
    model.row = pyo.Constraint(expr=body <= 1)
    model.objective = pyo.Objective(expr=model.x)
    with pytest.raises(InfeasibleConstraintException, match="'row'"):
        compile_arrays(model)


def _model_alive_after_solve() -> bool:
    """Solve base-2027 with the cycle collector disabled: is its Pyomo model still alive
    (waiting for the collector) when `solve_instance` returns?"""
    models: list[weakref.ref[pyo.ConcreteModel]] = []
    instance = load_instance(ROOT / "instances" / "base-2027")
    gc.disable()
    try:
        result = solve_instance(
            instance, RunOptions(SolverOptions()), extend=lambda m: models.append(weakref.ref(m))
        )
        alive = models[0]() is not None
    finally:
        gc.enable()
    assert result.plan is not None and result.marginal_values is not None
    return alive


def test_a_large_model_is_freed_while_highs_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """`solve_instance` drops the Pyomo model after compiling it and, from
    `FREE_FROM_COLUMNS` columns (lowered here), collects it during the solve (its
    reference cycles wait for the cycle collector, disabled here)."""
    monkeypatch.setattr(memory, "FREE_FROM_COLUMNS", 0)
    assert not _model_alive_after_solve()


def test_the_model_is_freed_during_the_lp_before_the_mip(monkeypatch: pytest.MonkeyPatch) -> None:
    """A MIP without a time limit starts from the LP relaxation's plan
    (`allocator.solver.neighbourhood.known_plan`, from `MIN_COLUMNS` columns, lowered
    here): a large dropped model is freed while that LP runs, so it is gone when the MIP
    starts, not held through the LP, the rounding and RINS."""
    monkeypatch.setattr(memory, "FREE_FROM_COLUMNS", 0)
    monkeypatch.setattr(neighbourhood, "MIN_COLUMNS", 0)
    models: list[weakref.ref[pyo.ConcreteModel]] = []
    alive_at_mip: list[bool] = []
    solve_from_known = pipeline.solve_from_known

    def spy(*args: Any, **kwargs: Any) -> Any:
        alive_at_mip.append(models[0]() is not None)
        return solve_from_known(*args, **kwargs)

    def recorded_build(*args: Any, **kwargs: Any) -> pyo.ConcreteModel:
        model = build_model(*args, **kwargs)
        models.append(weakref.ref(model))
        return model

    monkeypatch.setattr(pipeline, "solve_from_known", spy)
    monkeypatch.setattr(pipeline, "build_model", recorded_build)  # an extension: no plan first
    instance = load_instance(ROOT / "instances" / "base-2027")
    gc.disable()
    try:
        result = solve_instance(instance, RunOptions(SolverOptions()))
    finally:
        gc.enable()
    assert result.plan is not None
    assert alive_at_mip == [False]


def test_a_small_model_is_left_to_the_collector() -> None:
    """Below `FREE_FROM_COLUMNS` columns no collection runs beside HiGHS: the dropped
    model waits for the collector's own schedule."""
    assert not memory.worth_freeing(memory.FREE_FROM_COLUMNS - 1)
    assert memory.worth_freeing(memory.FREE_FROM_COLUMNS)
    assert _model_alive_after_solve()
