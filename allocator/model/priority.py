"""The lexicographic rule's families: each tier's lowest fill rate and the stage objectives.

Built only with ``policy.priority_rule = "lexicographic"`` (models/FORMULATION.md,
"Priority tiers"): with fair share a variable f[k] per tier and a row per customer that
caps it at the customer's fill rate; and one objective per stage before profit, left
deactivated on the model. The solver (`allocator.solver.stages`) solves them in order on
one compiled model, adding a hold row after each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyomo.core as pyo

from allocator.model.coefficients import ModelCoefficients, ship_vars_by
from allocator.model.expressions import Row, linear, total
from allocator.plan.priority import RACKS


def add_tier_min_fill(model: pyo.ConcreteModel, numbers: ModelCoefficients) -> None:
    """0 <= f[k] <= 1: the lowest fill rate in tier k, for every tier with a min_fill
    stage (fair share) and a customer with orders; none otherwise."""
    tiers = [] if numbers.priority is None else numbers.priority.fill_tiers
    model.tier_min_fill = pyo.Var(tiers, domain=pyo.NonNegativeReals, bounds=(0.0, 1.0), dense=True)


def add_fair_share(
    model: pyo.ConcreteModel, numbers: ModelCoefficients, ship: Sequence[pyo.Var]
) -> None:
    """(8) Q(c) * f[k(c)] - sum_{o of c, p, t} x[o,p,t] <= 0

    Enforced over the customers c with Q(c) > 0 of every tier k with a min_fill stage:
    f[k] is at most each such customer's fill rate, so maximizing it maximizes
    F_k = min_c (racks shipped to c) / Q(c).
    """
    rows: dict[Any, Row] = {}
    if numbers.priority is not None:
        columns = ship_vars_by(numbers.ship.customer)
        fill = numbers.priority.fill
        for customer, tier, ordered in zip(
            fill.keys, fill["tier"].tolist(), fill["ordered"].tolist(), strict=True
        ):
            shipped = [ship[column] for column in columns.get(customer, [])]
            coefs = [ordered, *([-1.0] * len(shipped))]
            rows[customer] = (None, linear(coefs, [model.tier_min_fill[tier], *shipped]), 0.0)
    model.fair_share = pyo.Constraint(list(rows), rule=lambda _, c: rows[c])


def add_priority_stage(
    model: pyo.ConcreteModel, numbers: ModelCoefficients, ship: Sequence[pyo.Var]
) -> None:
    """maximize R_k = sum_{o of tier k, p, t} x[o,p,t]  (stage (k, racks)), or
    maximize F_k = f[k]  (stage (k, min_fill)); one deactivated objective per stage
    before profit, indexed by (tier, criterion) in the order solved."""
    stages: dict[Any, pyo.Expression] = {}
    if numbers.priority is not None:
        tier_of_column = numbers.priority.column_tier
        for stage in numbers.priority.stages:
            if stage.criterion == RACKS:
                in_tier = np.flatnonzero(tier_of_column == stage.tier).tolist()
                shipped = [ship[column] for column in in_tier]
                stages[stage.tier, stage.criterion] = total(shipped)
            else:
                stages[stage.tier, stage.criterion] = total([model.tier_min_fill[stage.tier]])
    model.priority_stage = pyo.Objective(
        list(stages), rule=lambda _, k, criterion: stages[k, criterion], sense=pyo.maximize
    )
    model.priority_stage.deactivate()
