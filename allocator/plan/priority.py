"""Priority tiers: the stages of the lexicographic rule and each stage's value in a plan.

With ``policy.priority_rule = "lexicographic"`` the plan comes from stages solved in
order. The tiers are the distinct ``customers.csv`` ``priority`` values k_1 < k_2 < ...
of customers with orders; for each tier, if ``policy.fair_share``, the stage
``(k, "min_fill")`` maximizes

    F_k = min over customers c of tier k with Q(c) > 0 of (racks shipped to c) / Q(c)

then ``(k, "racks")`` maximizes R_k = racks shipped to the tier's customers, every stage
holding the earlier ones at the values their plans reached; the last stage,
``(None, "profit")``, maximizes the objective under all those holds. `stage_value`
recomputes a stage's value from a plan's rows, independent of the solver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.plan.tables import Plan, shipped_by_customer

RACKS = "racks"
MIN_FILL = "min_fill"
PROFIT = "profit"

HOLD_TOLERANCE = 1e-9
"""A later stage may fall this far (relative, at least absolute 1e-9) below an earlier
stage's value: the hold rows are met to HiGHS's feasibility tolerance."""


@dataclass(frozen=True)
class Stage:
    """One stage: ``tier`` (None for profit) and ``criterion`` (racks, min_fill, profit)."""

    tier: int | None
    criterion: str

    @property
    def label(self) -> str:
        return PROFIT if self.tier is None else f"tier {self.tier} {self.criterion}"


def tier_of_customer(instance: Instance) -> pd.Series:
    """``priority`` per customer id."""
    return instance.customers.set_index("customer")["priority"].astype("int64")


def ordered_racks(instance: Instance) -> pd.Series:
    """Q(c): racks ordered per customer id (0 without orders)."""
    customers = instance.customers["customer"]
    return instance.orders.groupby("customer")["racks"].sum().reindex(customers, fill_value=0)


def priority_stages(instance: Instance) -> list[Stage]:
    """The stages in the order solved, ending with profit; empty under the profit rule.
    A tier whose customers ordered nothing has no stage (there is nothing to ship it)."""
    policy = instance.policy
    if not policy.is_lexicographic:
        return []
    ordered = ordered_racks(instance)
    tiers = tier_of_customer(instance)
    stages: list[Stage] = []
    for tier in sorted(set(tiers[ordered > 0].tolist())):
        if policy.fair_share:
            stages.append(Stage(int(tier), MIN_FILL))
        stages.append(Stage(int(tier), RACKS))
    return [*stages, Stage(None, PROFIT)]


def stage_value(instance: Instance, plan: Plan, stage: Stage) -> float:
    """R_k or F_k of ``plan``, from its allocation rows (not for the profit stage)."""
    if stage.tier is None:
        raise ValueError("the profit stage's value is the plan's objective")
    in_tier = (tier_of_customer(instance) == stage.tier).to_numpy()
    shipped = shipped_by_customer(instance, plan).to_numpy(dtype=float)[in_tier]
    if stage.criterion == RACKS:
        return float(shipped.sum())
    ordered = ordered_racks(instance).to_numpy(dtype=float)[in_tier]
    has_orders = ordered > 0
    return float(np.min(shipped[has_orders] / ordered[has_orders]))


def hold_floor(value: float) -> float:
    """The least value a later stage may keep of a stage that reached ``value``."""
    return value - max(HOLD_TOLERANCE, HOLD_TOLERANCE * abs(value))


def check_holds(instance: Instance, plan: Plan, held: list[tuple[Stage, float]]) -> list[str]:
    """Every stage held: its value in ``plan`` is at least what its own plan reached."""
    problems = []
    for stage, value in held:
        reached = stage_value(instance, plan, stage)
        if reached < hold_floor(value):
            problems.append(
                f"{stage.label}: {reached:.9g} in the plan, below the {value:.9g} its stage reached"
            )
    return problems
