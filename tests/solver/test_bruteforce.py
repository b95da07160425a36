"""The MIP's optimum equals exhaustive enumeration on hundreds of random tiny instances.

Each instance is written as files and read back with `load_instance`; `bruteforce`
enumerates every integer plan and scores it straight from SPEC.md, without allocator's
model or plan code. Generated money, margins, attach rates, shares and min_fill values
make every objective exact in floating point (see `bruteforce.PENALTIES`), so objectives
are compared with an absolute tolerance of 1e-6, not a relative one. Besides freely
drawn instances, each constraint family has a generation mode that makes it bind, and
`test_every_family_binds` checks, with the enumerator alone, that it does.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest

from allocator.data.validate import load_instance
from allocator.errors import InfeasibleError
from allocator.plan.check import check_plan
from allocator.solver.highs import SolverOptions, Termination
from allocator.solver.pipeline import RunOptions, SolveResult, solve_instance
from tests.bruteforce import (
    FAMILIES,
    Model,
    Plan,
    Tiny,
    binding_families,
    enumerate_optimum,
    enumerate_optimum_naive,
    power_used,
    random_tiny,
    score,
    space_size,
    tight_families,
    tight_power_rows,
    unshippable_commitments,
    write,
)

RANDOM_SEEDS = range(120)
MODE_SEEDS = range(12)
SUBSTITUTE_SEEDS = range(40)
RELAXED_CASES: list[tuple[str | None, int]] = [
    *((None, seed) for seed in RANDOM_SEEDS),
    *((mode, seed) for mode in FAMILIES for seed in MODE_SEEDS),
    *(("substitutes", seed) for seed in SUBSTITUTE_SEEDS),
]
STRICT_SEEDS = range(10_000, 10_040)
OPTIONS = SolverOptions(mip_gap=0.0)
ABS_TOL = 1e-6
"""Objectives are exact in binary floating point (multiples of 1/2 well below 2**52) up to
the order of summation."""


def _case_id(case: tuple[str | None, int]) -> str:
    mode, seed = case
    return f"{mode or 'random'}-{seed}"


def _tiny(case: tuple[str | None, int]) -> Tiny:
    mode, seed = case
    return random_tiny(seed, mode=mode)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=0.0, abs_tol=ABS_TOL)


def _integral(value: float) -> int:
    assert abs(value - round(value)) < 1e-9, value
    return round(value)


def _plan_of(result: SolveResult) -> Plan:
    """allocator's plan as the enumerator's x, s, y."""
    assert result.plan is not None
    allocation, surplus = result.plan.allocation, result.plan.surplus
    x: dict[tuple[str, str, int], int] = {}
    for order, product, t, racks in zip(
        allocation["order"],
        allocation["product"],
        allocation["ship_period"],
        allocation["racks"],
        strict=True,
    ):
        key = (str(order), str(product), int(t))
        x[key] = x.get(key, 0) + _integral(racks)
    s: dict[tuple[str, int], int] = {}
    for product, t, racks in zip(
        surplus["product"], surplus["period"], surplus["racks"], strict=True
    ):
        key = (str(product), int(t))
        s[key] = s.get(key, 0) + _integral(racks)
    y = {str(c): _integral(v) for c, v in result.plan.deal_accepted.items()}
    return Plan(x, s, y)


def _check(tiny: Tiny, folder: Path, *, strict: bool) -> None:
    instance = load_instance(write(tiny, folder))
    best = enumerate_optimum(tiny, strict=strict)
    context = f"strict={strict}, {space_size(tiny)} plans, best={best}\n{tiny.describe()}"
    options = RunOptions(OPTIONS, strict=strict, marginal_values=False)
    if best is None:
        assert strict, "shipping nothing is always feasible\n" + context
        try:
            solve_instance(instance, options)
        except InfeasibleError:
            return
        pytest.fail("strict mode: no feasible plan, but no InfeasibleError\n" + context)
    optimum, optimal_plan = best
    rescored_optimum = score(tiny, optimal_plan, strict=strict)
    assert rescored_optimum is not None and _close(rescored_optimum, optimum)
    result = solve_instance(instance, options)
    assert result.termination == Termination.OPTIMAL, context
    assert result.plan is not None and result.objective is not None, context
    assert result.violations == [], context
    assert check_plan(instance, result.plan, strict=strict) == [], context
    assert _close(result.objective, optimum), f"allocator {result.objective}\n{context}"
    assert result.solver_objective is not None
    assert _close(result.solver_objective, optimum), f"HiGHS {result.solver_objective}\n{context}"
    plan = _plan_of(result)
    rescored = score(tiny, plan, strict=strict)
    assert rescored is not None, f"allocator's plan {plan} is infeasible\n{context}"
    assert _close(rescored, result.objective), f"plan {plan} scores {rescored}\n{context}"


@pytest.mark.parametrize("case", RELAXED_CASES, ids=_case_id)
def test_optimum_matches_enumeration(case: tuple[str | None, int], tmp_path: Path) -> None:
    _check(_tiny(case), tmp_path, strict=False)


@pytest.mark.parametrize("seed", STRICT_SEEDS)
def test_strict_optimum_matches_enumeration(seed: int, tmp_path: Path) -> None:
    _check(random_tiny(seed), tmp_path, strict=True)


def test_enumerator_shortcut_matches_naive() -> None:
    """`enumerate_optimum` (best s and best y per x) equals scoring every plan one by one."""
    cases = [*RELAXED_CASES[:60], *((mode, 0) for mode in FAMILIES)]
    cases += [(None, seed) for seed in STRICT_SEEDS]
    for case in cases:
        tiny = _tiny(case)
        for strict in (False, True):
            best = enumerate_optimum(tiny, strict=strict)
            naive = enumerate_optimum_naive(tiny, strict=strict)
            assert (best is None) == (naive is None), case
            assert best is None or naive is None or best[0] == naive, case


def test_generated_data_is_exact() -> None:
    """Every objective coefficient is a multiple of 1/2 (price + margin - delay cost per
    rack), every cost and penalty per unit is whole, and every number a constraint
    compares (min_fill * Q, share * racks, wafers, kW) is a multiple of 1/4: so every
    objective value and every comparison is exact in binary floating point."""
    cases = [*RELAXED_CASES, *((None, seed) for seed in STRICT_SEEDS)]
    for case in cases:
        tiny = _tiny(case)
        model = Model(tiny)
        quarter = Fraction(1, 4)
        assert Fraction(tiny.share) % quarter == 0, case
        assert Fraction(tiny.penalty) % 4 == 0, case
        for key, value in model.unit_value.items():
            assert Fraction(value) % Fraction(1, 2) == 0, (case, key)
        for o, row in model.orders.items():
            assert Fraction(row["delay_penalty"]).denominator == 1, (case, o)
        for row in tiny.rows("customers"):
            assert Fraction(row["min_fill"]) % quarter == 0, case
            assert Fraction(row["onboarding_cost"]).denominator == 1, case
        for row in tiny.rows("products"):
            assert Fraction(row["holding_cost"]).denominator == 1, case
            assert Fraction(row["wafers_per_rack"]) % quarter == 0, case
            assert Fraction(row["power_kw"]) % quarter == 0, case
        for row in tiny.rows("supply"):
            assert Fraction(row["surplus_cost"]).denominator == 1, case
        for table, column in (("foundry", "surplus_wafers"), ("regions", "power_kw")):
            for row in tiny.rows(table):
                assert Fraction(row[column]) % quarter == 0, case


def test_generator_covers_the_cases() -> None:
    """The seeds above are deterministic, and their optima take every decision
    somewhere: racks shipped, late, surplus bought, deals accepted."""
    relaxed = [_tiny(case) for case in RELAXED_CASES]
    assert [t.describe() for t in relaxed[:5]] == [random_tiny(s).describe() for s in range(5)]
    modes = [_tiny((mode, 0)).describe() for mode in FAMILIES]
    assert modes == [random_tiny(0, mode=mode).describe() for mode in FAMILIES]
    optima = [enumerate_optimum(t) for t in relaxed]
    plans = [best[1] for best in optima if best is not None]
    assert len(plans) == len(relaxed)
    assert sum(any(plan.x.values()) for plan in plans) >= 150
    assert sum(any(plan.s.values()) for plan in plans) >= 15
    assert sum(any(plan.y.values()) for plan in plans) >= 15
    late = [
        any(
            racks and t > order["period"]
            for (o, _p, t), racks in plan.x.items()
            for order in tiny.rows("orders")
            if order["order"] == o
        )
        for tiny, plan in zip(relaxed, plans, strict=True)
    ]
    assert sum(late) >= 5
    assert any(not t.write_regions for t in relaxed)
    assert any(t.rows("services") and t.rows("attach") for t in relaxed)
    assert any(space_size(t) > 1000 for t in relaxed)
    # with substitutes the optima ship a substitute somewhere, and wait for one elsewhere
    substituted = [
        any(
            racks and p != order["product"]
            for (o, p, _t), racks in plan.x.items()
            for order in tiny.rows("orders")
            if order["order"] == o
        )
        for tiny, plan in zip(relaxed, plans, strict=True)
        if tiny.rows("substitutes")
    ]
    assert sum(substituted) >= 5
    strict_infeasible = [
        seed for seed in STRICT_SEEDS if enumerate_optimum(random_tiny(seed), strict=True) is None
    ]
    assert len([s for s in strict_infeasible if not unshippable_commitments(random_tiny(s))]) >= 3


def test_every_family_binds() -> None:
    """Each constraint family is binding at the enumerated optimum in several of the
    cases above: tight at the enumerator's own optimal plan (`tight_families`: the row
    holds with equality where it limits something) and binding (`binding_families`:
    loosening only that family raises the enumerated optimum). Each generation mode makes
    its family bind in most of its seeds. Nothing here asks allocator."""
    both: dict[str, list[tuple[str | None, int]]] = {family: [] for family in FAMILIES}
    cumulative, third_party_in_limited_region = [], []
    for case in RELAXED_CASES:
        tiny = _tiny(case)
        best = enumerate_optimum(tiny)
        assert best is not None
        optimum, plan = best
        for family in tight_families(tiny, plan) & binding_families(tiny, optimum):
            both[family].append(case)
        rows = tight_power_rows(tiny, plan)
        regions = {row["region"] for row in rows}
        if any(power_used(tiny, plan, r["region"], r["period"], before=True) > 0 for r in rows):
            cumulative.append(case)  # racks shipped before the row's period count in it
        model = Model(tiny)
        third_party_racks = sum(
            racks
            for (o, _p, _t), racks in plan.x.items()
            if model.orders[o]["customer"] in model.third_party
            and model.customers[model.orders[o]["customer"]]["region"] in regions
        )
        rows_per_region = [
            sum(row["region"] == region for row in tiny.rows("regions")) for region in regions
        ]
        if third_party_racks > 0 and max(rows_per_region, default=0) >= 2:
            third_party_in_limited_region.append(case)
    summary = {family: len(cases) for family, cases in both.items()}
    for family in FAMILIES:
        assert len(both[family]) >= 5, summary
        own = [case for case in both[family] if case[0] == family]
        assert len(own) >= len(MODE_SEEDS) * 2 // 3, (family, own, summary)
    assert len(cumulative) >= 5, cumulative
    assert len(third_party_in_limited_region) >= 5, third_party_in_limited_region


EMPTY_WINDOW_COMMITMENT = Tiny(
    periods=2,
    share=0.0,
    penalty=0.0,
    tables={
        "products": [
            {
                "product": "p1",
                "available_from": 2,
                "wafers_per_rack": 1,
                "power_kw": 1,
                "holding_cost": 0,
                "initial_inventory": 0,
            }
        ],
        "customers": [
            {
                "customer": "int1",
                "segment": "internal",
                "region": "r1",
                "min_fill": 1,
                "onboarding_cost": 0,
                "min_contract_racks": 0,
            }
        ],
        "orders": [
            {
                "order": "o1",
                "customer": "int1",
                "product": "p1",
                "period": 1,
                "racks": 1,
                "price_per_rack": 100,
                "max_delay": 0,
                "delay_penalty": 0,
            }
        ],
    },
    write_regions=False,
)
"""o1's window is empty (p1 ships from period 2, o1 must ship in period 1), so strict
mode is infeasible before any solve: internal_fill[int1] has no variables."""


def test_strict_unshippable_commitment_is_infeasible(tmp_path: Path) -> None:
    assert enumerate_optimum(EMPTY_WINDOW_COMMITMENT, strict=True) is None
    assert unshippable_commitments(EMPTY_WINDOW_COMMITMENT) == ["int1"]
    instance = load_instance(write(EMPTY_WINDOW_COMMITMENT, tmp_path))
    with pytest.raises(InfeasibleError) as raised:
        solve_instance(instance, RunOptions(OPTIONS, strict=True, marginal_values=False))
    assert raised.value.conflicts == ("internal_fill[int1]",)
