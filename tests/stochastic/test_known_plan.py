"""The extensive form measured against a two-stage plan found outside HiGHS: the LP
relaxation's first stage rounded down, each scenario solved with it fixed
(`lp_rounded_start`), and HiGHS interrupted once its bound is within the gap of that
plan (`allocator.solver.child.stop_near`, in this process and in the deadline's child).
On small instances HiGHS proves its own plan before it first calls back; that it stops
on base-2027's five scenarios at the rounded plan (gap 7.5e-5, not the 2.4e-7 it reaches
alone after a minute) is checked by tests/stochastic/test_readme_figures.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from allocator.data.validate import load_instance
from allocator.model.extensive import ScenarioModel
from allocator.plan.check import check_plan
from allocator.plan.first_stage import first_stage_misfits, recourse_value
from allocator.solver.child import stop_near
from allocator.solver.extensive import lp_rounded_start, solve_extensive
from allocator.solver.highs import SolverOptions, Termination
from allocator.solver.pipeline import RunOptions
from allocator.stochastic.scenario_file import read_scenarios
from allocator.whatif.scenarios import scenario_instance
from tests.stochastic.helpers import write_scenarios
from tests.whatif.helpers import generated


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    folder = tmp_path_factory.mktemp("known")
    base = load_instance(generated(folder / "instance", seed=1))
    path = write_scenarios(
        folder / "scenarios.csv",
        [
            "low,0.3,orders.racks,0.7",
            "mid,0.4,,",
            "high,0.3,orders.racks,1.3",
            "high,0.3,supply.surplus_cost,0.8",
        ],
    )
    models = [
        ScenarioModel(s.name, s.probability, scenario_instance(base, s.variant()))
        for s in read_scenarios(path).scenarios
    ]
    return base, models


def _options(gap: float, time_limit: float | None = None) -> RunOptions:
    return RunOptions(SolverOptions(mip_gap=gap, time_limit=time_limit))


def test_the_rounded_plan_is_a_two_stage_plan_no_better_than_the_optimum(scenarios) -> None:
    base, models = scenarios
    known = lp_rounded_start(base, models, _options(1e-4), deals=False)
    assert known is not None
    assert (known.surplus["racks"] > 0).all()
    assert (known.surplus["racks"] == np.floor(known.surplus["racks"])).all()
    for model in models:
        plan = known.plans[model.name]
        assert plan.surplus.set_index(["product", "period"])["racks"].to_dict() == (
            known.surplus.set_index(["product", "period"])["racks"].to_dict()
        )
        assert not first_stage_misfits(model.instance, known.surplus, None)
        assert check_plan(model.instance, plan) == []
    optimum = solve_extensive(base, models, _options(0.0), deals=False)
    lp = solve_extensive(base, models, dataclasses.replace(_options(0.0), relax=True), deals=False)
    assert optimum.rp is not None and lp.rp is not None
    assert known.rp <= optimum.rp + 1e-6 * abs(optimum.rp)
    assert optimum.rp <= lp.rp + 1e-6 * abs(lp.rp)
    terms = [(m.probability, _terms(m, known.plans[m.name])) for m in models]
    assert known.rp == pytest.approx(recourse_value(base, known.surplus, terms), rel=1e-12)


def _terms(model: ScenarioModel, plan) -> dict[str, float]:
    from allocator.plan.tables import objective_terms

    return objective_terms(model.instance, plan)


@pytest.mark.parametrize("time_limit", [None, 60.0])
def test_measured_against_the_known_plan_the_answer_is_the_better_within_the_gap(
    scenarios, time_limit: float | None
) -> None:
    base, models = scenarios
    options = _options(1e-4, time_limit)
    known = lp_rounded_start(base, models, options, deals=False)
    assert known is not None
    result = solve_extensive(base, models, options, deals=False, known=known)
    optimum = solve_extensive(base, models, _options(0.0), deals=False)
    assert result.rp is not None and optimum.rp is not None
    assert result.violations == []
    assert result.rp >= known.rp
    assert result.outcome.termination == Termination.OPTIMAL
    bound = result.outcome.best_bound
    assert bound is not None and bound >= optimum.rp - 1e-6 * abs(optimum.rp)
    assert (bound - result.rp) <= 1e-4 * abs(result.rp) + 1e-6
    if result.known_kept:
        assert result.rp == pytest.approx(known.rp, rel=1e-12)
        assert result.outcome.objective == pytest.approx(known.rp, rel=1e-12)


class _Event:
    def __init__(self, bound: float) -> None:
        self.data_out = type("Out", (), {"mip_dual_bound": bound})()
        self.data_in = type("In", (), {"user_interrupt": False})()


class _Callbacks:
    def __init__(self) -> None:
        self.subscribed: list = []

    def subscribe(self, callback) -> None:
        self.subscribed.append(callback)


@pytest.mark.parametrize(
    ("bound", "stops"),
    [(100.0, True), (100.009, True), (100.011, False), (99.991, True), (99.9, False)],
)
def test_highs_is_interrupted_once_its_bound_is_within_the_gap_of_the_known_objective(
    bound: float, stops: bool
) -> None:
    """|bound - known| <= gap |known|, HiGHS's own measure: known 100, gap 1e-4."""
    highs = type("Highs", (), {"cbMipInterrupt": _Callbacks()})()
    stop_near(highs, 100.0, 1e-4)
    (callback,) = highs.cbMipInterrupt.subscribed
    event = _Event(bound)
    callback(event)
    assert event.data_in.user_interrupt is stops
