"""Marginal values (LP duals) equal finite differences of the LP optimum.

base-2027's LP relaxation is solved once; for a few rows of each resource of
marginal_values.csv (nonzero and zero values) the instance is rebuilt with that
right-hand side moved by +delta and -delta (`allocator.whatif.run.base_tables` ->
`allocator.data.instance.build_instance`) and the LP solved again. The value function of a
maximizing LP is concave in a right-hand side, so backward difference >= marginal value
>= forward difference always; where the row is not degenerate both differences equal
the marginal value (within 1e-6 relative). Rows where only one side can be checked are
listed apart, each with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from allocator.data.instance import Instance, build_instance
from allocator.data.validate import load_instance
from allocator.solver.highs import SolverOptions, Termination
from allocator.solver.pipeline import RunOptions, solve_instance
from allocator.whatif.scenarios import base_tables

BASE_2027 = Path(__file__).resolve().parents[2] / "instances" / "base-2027"
LP = RunOptions(SolverOptions(), relax=True, marginal_values=False)

TABLE_OF = {
    "surplus_wafers": ("foundry", "surplus_wafers"),
    "base_racks": ("supply", "base_racks"),
    "region_power": ("regions", "power_kw"),
}
"""Where each resource's right-hand side lives: table and column."""


@dataclass(frozen=True)
class Row:
    resource: str
    item: str
    period: int
    delta: float
    """1 wafer, 1 rack (base_racks is a whole number), 2 kW: within the basis's range
    for every two-sided row below, and large enough that the objective's rounding
    (about 1e-5 on 1.4e11) is far below 1e-6 of the difference."""

    def __str__(self) -> str:
        return f"{self.resource}[{self.item},{self.period}]"


@dataclass
class Base:
    instance: Instance
    objective: float
    marginal: pd.DataFrame


@pytest.fixture(scope="module")
def base() -> Base:
    instance = load_instance(BASE_2027)
    result = solve_instance(instance, RunOptions(SolverOptions(), relax=True))
    assert result.termination == Termination.OPTIMAL
    assert result.solver_objective is not None and result.marginal_values is not None
    assert result.marginal_values_source == "lp"
    return Base(instance, result.solver_objective, result.marginal_values)


def _marginal(base: Base, row: Row) -> float:
    frame = base.marginal
    match = frame[
        (frame["resource"] == row.resource)
        & (frame["item"].fillna("") == row.item)
        & (frame["period"] == row.period)
    ]
    assert len(match) == 1, f"{row}: {len(match)} rows in marginal_values"
    return float(match["value"].iloc[0])


def _objective_with(base: Base, row: Row, delta: float) -> float:
    """The LP optimum with ``row``'s right-hand side moved by ``delta``."""
    table, column = TABLE_OF[row.resource]
    tables = base_tables(base.instance)
    frame = tables[table].copy()
    mask = frame["period"] == row.period
    if row.resource == "base_racks":
        mask &= frame["product"] == row.item
    elif row.resource == "region_power":
        mask &= frame["region"] == row.item
    assert mask.sum() == 1, f"{row}: {mask.sum()} rows in {table}"
    frame.loc[mask, column] = frame.loc[mask, column] + delta
    tables[table] = frame
    result = solve_instance(build_instance(base.instance.settings, tables), LP)
    assert result.termination == Termination.OPTIMAL and result.solver_objective is not None, row
    return result.solver_objective


def _close(difference: float, marginal: float) -> bool:
    return math.isclose(difference, marginal, rel_tol=1e-6, abs_tol=1e-6)


TWO_SIDED = [
    # nonzero
    Row("surplus_wafers", "", 10, 1.0),  # 180 wafers offered, all used
    Row("surplus_wafers", "", 22, 1.0),
    Row("base_racks", "trainium", 1, 1),
    Row("base_racks", "trainium4", 20, 1),
    Row("region_power", "aws-us-west-2", 24, 2.0),
    Row("region_power", "aws-ap-southeast-1", 12, 2.0),
    # zero: rows with slack
    Row("surplus_wafers", "", 3, 1.0),  # 140 wafers offered, some unused
    Row("region_power", "aws-us-east-1", 12, 2.0),
    Row("region_power", "aws-ap-northeast-1", 9, 2.0),
]


@pytest.mark.parametrize("row", TWO_SIDED, ids=str)
def test_marginal_value_equals_both_differences(row: Row, base: Base) -> None:
    marginal = _marginal(base, row)
    forward = (_objective_with(base, row, row.delta) - base.objective) / row.delta
    backward = (base.objective - _objective_with(base, row, -row.delta)) / row.delta
    assert _close(forward, marginal), f"{row}: forward {forward} != marginal {marginal}"
    assert _close(backward, marginal), f"{row}: backward {backward} != marginal {marginal}"


def test_the_rows_cover_nonzero_and_zero_values(base: Base) -> None:
    values = {str(row): _marginal(base, row) for row in TWO_SIDED}
    for resource in TABLE_OF:
        assert any(
            abs(value) > 1.0 for name, value in values.items() if name.startswith(resource)
        ), resource
    assert sum(value == 0.0 for value in values.values()) >= 3


def test_forward_difference_where_the_offer_is_zero(base: Base) -> None:
    """One-sided: the foundry offers 0 wafers in period 2, so the right-hand side cannot
    go down (a negative offer is invalid); one more wafer is worth the marginal value."""
    row = Row("surplus_wafers", "", 2, 1.0)
    assert float(base.instance.surplus_wafers[2]) == 0.0
    marginal = _marginal(base, row)
    assert marginal > 1e5
    forward = (_objective_with(base, row, row.delta) - base.objective) / row.delta
    assert _close(forward, marginal), f"forward {forward} != marginal {marginal}"


DEGENERATE = [
    # (row, which difference HiGHS's basis gives). At these rows the optimum is a
    # degenerate vertex: the left and right derivatives differ, and the dual is one of
    # them. Measured on base-2027 with HiGHS 1.15.1:
    # aws-us-west-2 by period 15: forward 1,607.5 per kW, backward and dual 50,446.4
    (Row("region_power", "aws-us-west-2", 15, 2.0), "backward"),
    # aws-us-west-2 by period 3: forward 0, backward and dual 1,808.8
    (Row("region_power", "aws-us-west-2", 3, 2.0), "backward"),
    # aws-ap-northeast-1 by period 3: forward and dual 0, backward 775.4
    (Row("region_power", "aws-ap-northeast-1", 3, 2.0), "forward"),
    # trainium4 in period 15: forward and dual 7,326,760; one rack less costs 7,328,227
    (Row("base_racks", "trainium4", 15, 1), "forward"),
]


@pytest.mark.parametrize("row, side", DEGENERATE, ids=lambda x: str(x))
def test_marginal_value_at_a_degenerate_row(row: Row, side: str, base: Base) -> None:
    """One-sided difference: the marginal value equals the named side's difference, and
    lies between the two (concavity); the other side differs (the row is degenerate)."""
    marginal = _marginal(base, row)
    forward = (_objective_with(base, row, row.delta) - base.objective) / row.delta
    backward = (base.objective - _objective_with(base, row, -row.delta)) / row.delta
    context = f"{row}: forward {forward}, backward {backward}, marginal {marginal}"
    assert not _close(forward, backward), "not degenerate (any more): " + context
    assert forward - 1e-6 * abs(forward) <= marginal <= backward + 1e-6 * abs(backward), context
    assert _close(forward if side == "forward" else backward, marginal), context
