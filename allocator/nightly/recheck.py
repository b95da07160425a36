"""The nightly plan's independent re-check before it is stored or published.

Every constraint of the contract on the plan's rows, the objective recomputed and
compared with HiGHS's, and the frozen periods kept."""

from __future__ import annotations

from allocator.data.instance import Instance
from allocator.model.stability import FROZEN_FIXED, StabilitySetup
from allocator.nightly.baseline import Baseline, cells
from allocator.nightly.config import NightlyConfig
from allocator.nightly.store import ProblemRow
from allocator.plan.check import check_plan
from allocator.plan.tables import objective_terms
from allocator.solver.pipeline import SolveResult

OBJECTIVE_TOLERANCE = 1e-6
"""Relative difference allowed between HiGHS's objective and the one recomputed."""


def recheck(
    instance: Instance,
    result: SolveResult,
    baseline: Baseline | None,
    setup: StabilitySetup | None,
    cost: float,
    config: NightlyConfig,
) -> list[ProblemRow]:
    """Every constraint of the contract on the plan's rows, the contract's objective recomputed and
    compared with HiGHS's (less the recomputed stability cost), frozen periods."""
    plan = result.plan
    assert plan is not None
    problems = [
        ProblemRow("plan", violation)
        for violation in check_plan(instance, plan, strict=config.strict, integral=True)
    ]
    objective = sum(objective_terms(instance, plan).values())
    expected = None if result.solver_objective is None else result.solver_objective + cost
    scale = OBJECTIVE_TOLERANCE * max(1.0, abs(objective))
    if expected is None or abs(objective - expected) > scale:
        problems.append(
            ProblemRow(
                "plan",
                f"objective: recomputed from the plan {objective:,.2f}, HiGHS reports "
                f"{expected} (with the stability cost {cost:,.2f} added back)",
            )
        )
    if result.objective is not None and abs(result.objective - objective) > scale:
        problems.append(ProblemRow("plan", f"objective: summary {result.objective} != {objective}"))
    if baseline is not None and setup is not None and setup.frozen_mode == FROZEN_FIXED:
        kept = baseline.kept_racks(config.frozen_periods)
        frozen = plan.allocation[plan.allocation["ship_period"] <= config.frozen_periods]
        planned = cells(frozen)
        for key in sorted(set(kept) | set(planned)):
            if abs(kept.get(key, 0.0) - planned.get(key, 0.0)) > 1e-6:
                order, product, period = key
                problems.append(
                    ProblemRow(
                        "plan",
                        f"frozen period changed: {order}@{period} ships "
                        f"{planned.get(key, 0.0):g} of {product}, kept {kept.get(key, 0.0):g}",
                    )
                )
    return problems
