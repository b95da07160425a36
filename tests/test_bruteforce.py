"""The MIP's optimum equals exhaustive enumeration on hundreds of random tiny instances.

Each instance is written as files and read back with `load_instance`; `bruteforce`
enumerates every integer plan and scores it straight from SPEC.md, without allocator's
model or plan code.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from bruteforce import (
    Plan,
    Tiny,
    enumerate_optimum,
    enumerate_optimum_naive,
    random_tiny,
    score,
    space_size,
    unshippable_commitments,
    write,
)

from allocator.data.validate import load_instance
from allocator.errors import InfeasibleError
from allocator.plan.check import check_plan
from allocator.solver.highs import SolverOptions, Termination
from allocator.solver.pipeline import RunOptions, SolveResult, solve_instance

RELAXED_SEEDS = range(200)
STRICT_SEEDS = range(10_000, 10_050)
OPTIONS = SolverOptions(mip_gap=0.0)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


def _integral(value: float) -> int:
    assert abs(value - round(value)) < 1e-9, value
    return round(value)


def _plan_of(result: SolveResult) -> Plan:
    """allocator's plan as the enumerator's x, s, y."""
    assert result.plan is not None
    allocation, surplus = result.plan.allocation, result.plan.surplus
    x: dict[tuple[str, int], int] = {}
    for order, t, racks in zip(
        allocation["order"], allocation["ship_period"], allocation["racks"], strict=True
    ):
        key = (str(order), int(t))
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
    assert _close(score(tiny, optimal_plan, strict=strict), optimum)
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


@pytest.mark.parametrize("seed", RELAXED_SEEDS)
def test_optimum_matches_enumeration(seed: int, tmp_path: Path) -> None:
    _check(random_tiny(seed), tmp_path, strict=False)


@pytest.mark.parametrize("seed", STRICT_SEEDS)
def test_strict_optimum_matches_enumeration(seed: int, tmp_path: Path) -> None:
    _check(random_tiny(seed), tmp_path, strict=True)


def test_enumerator_shortcut_matches_naive() -> None:
    """`enumerate_optimum` (best s and best y per x) equals scoring every plan one by one."""
    for seed in [*RELAXED_SEEDS[:100], *STRICT_SEEDS]:
        tiny = random_tiny(seed)
        for strict in (False, True):
            best = enumerate_optimum(tiny, strict=strict)
            naive = enumerate_optimum_naive(tiny, strict=strict)
            assert (best is None) == (naive is None), seed
            assert best is None or naive is None or _close(best[0], naive), seed


def test_generator_covers_the_cases() -> None:
    """The seeds above are deterministic, and their optima exercise every term and
    constraint: each decision is taken somewhere, each constraint binds somewhere."""
    relaxed = [random_tiny(seed) for seed in RELAXED_SEEDS]
    assert [t.describe() for t in relaxed[:5]] == [random_tiny(s).describe() for s in range(5)]
    optima = [enumerate_optimum(t) for t in relaxed]
    plans = [best[1] for best in optima if best is not None]
    assert len(plans) == len(relaxed)
    assert sum(any(plan.x.values()) for plan in plans) >= 100
    assert sum(any(plan.s.values()) for plan in plans) >= 5
    assert sum(any(plan.y.values()) for plan in plans) >= 5
    late = [
        any(
            racks and t > order["period"]
            for (o, t), racks in plan.x.items()
            for order in tiny.rows("orders")
            if order["order"] == o
        )
        for tiny, plan in zip(relaxed, plans, strict=True)
    ]
    assert sum(late) >= 5

    def binds(tiny: Tiny, best: tuple[float, Plan] | None, **loosened: object) -> bool:
        loose = Tiny(tiny.periods, tiny.share, tiny.penalty, {**tiny.tables})
        for key, value in loosened.items():
            if key == "share":
                loose.share = 1.0
            else:
                loose.tables[key] = value(tiny) if callable(value) else value
        better = enumerate_optimum(loose)
        return best is not None and better is not None and better[0] > best[0] + 1e-6

    def no_foundry_limit(tiny: Tiny) -> list[dict]:
        return [{"period": t, "surplus_wafers": 1e3} for t in range(1, tiny.periods + 1)]

    pairs = list(zip(relaxed, optima, strict=True))
    assert sum(binds(t, best, share=True) for t, best in pairs) >= 5
    assert sum(binds(t, best, regions=[]) for t, best in pairs) >= 5
    assert sum(binds(t, best, foundry=no_foundry_limit) for t, best in pairs) >= 5
    assert any(not t.write_regions for t in relaxed)
    assert any(t.rows("services") and t.rows("attach") for t in relaxed)
    assert any(space_size(t) > 1000 for t in relaxed)
    strict_infeasible = [
        seed for seed in STRICT_SEEDS if enumerate_optimum(random_tiny(seed), strict=True) is None
    ]
    assert len([s for s in strict_infeasible if not unshippable_commitments(random_tiny(s))]) >= 3


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
