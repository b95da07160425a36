"""The pieces every family function builds rows from: linear expressions, ship variables.

Expressions are `LinearExpression` objects made from coefficient and variable lists, so
no family goes through Pyomo's generic operator overloading (`allocator.solver.compile`
reads them directly).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyomo.core as pyo
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression

from allocator.model.coefficients import ModelOptions

Row = tuple[float | None, LinearExpression, float | None]
"""A constraint row as Pyomo's (lower, body, upper) tuple; None is no bound."""


def linear(
    coefs: Sequence[float], variables: Sequence[pyo.Var], *, ones: Sequence[pyo.Var] = ()
) -> LinearExpression:
    """sum_i ones[i] + sum_j coefs[j] * variables[j].

    The ``ones`` (whole racks counted once each, most of the matrix) are the variables
    themselves, as Pyomo's own ``sum`` of variables makes them: no term object is
    created for them here or read back in `allocator.solver.compile`."""
    return LinearExpression(
        [*ones, *map(MonomialTermExpression, zip(coefs, variables, strict=True))]
    )


def total(variables: Sequence[pyo.Var]) -> LinearExpression:
    """sum_i variables[i]."""
    return LinearExpression(list(variables))


def integer_domain(options: ModelOptions) -> pyo.Set:
    """Whole racks, or any number >= 0 in the LP relaxation (``relax``)."""
    return pyo.NonNegativeReals if options.relax else pyo.NonNegativeIntegers


def ship_vars(model: pyo.ConcreteModel) -> list[pyo.Var]:
    """Every x[o,p,t] in `ShipColumns` order: the orders' own products (``ship_racks``),
    then the substitutes (``substitute_racks``)."""
    return [*model.ship_racks.values(), *model.substitute_racks.values()]
