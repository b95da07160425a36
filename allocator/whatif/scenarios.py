"""The scenarios of a sweep: the grid and its names; each scenario's instance, hash and solve.

Names are deterministic and readable (``surplus-x1.5__policy.third_party_max_share-0.35``).
Each scenario is a separate solve. The worker gets the base `Instance` (pickleable
DataFrames) and the scenario, rebuilds the variant with `build_instance` and solves it
with its own HiGHS (one thread by default): Pyomo models are never shipped. A worker
keeps the base instance's model compiled and solves a variant that changes only bounds,
right-hand sides or costs (surplus wafers, the policy values, prices...) on a copy of its
arrays with those numbers updated (`allocator.solver.resolve`; the same arrays a rebuild gives);
any other variant is built and compiled whole.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from allocator.data.instance import Instance, base_tables, build_instance
from allocator.data.schema import TABLES
from allocator.solver.pipeline import RunOptions, SolveResult
from allocator.solver.resolve import variant_solver
from allocator.whatif.spec import (
    BASE_SCENARIO,
    POLICY_DROPS,
    SURPLUS_WAFERS,
    PolicyDrop,
    Scenario,
    SweepSpec,
    Target,
    Value,
    check_varies,
)

MAX_NAME_LENGTH = 180
"""Longer scenario names are cut and end in a short hash (folder names stay legal)."""


def format_number(value: float) -> str:
    """Short and exact: 1.0 -> ``1``, 0.35 -> ``0.35``, 2e7 -> ``20000000``."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value)).replace("+", "")


def scenario_name(parts: Sequence[str]) -> str:
    name = "__".join(parts)
    if len(name) <= MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{name[: MAX_NAME_LENGTH - 14]}--{digest}"


def change_label(target: Target, value: Value) -> str:
    """``policy.third_party_max_share-0.35`` (set), ``orders.price_per_rack-x0.9`` (factor),
    ``delay.trainium4-3`` (months), ``policy.priority_rule-lexicographic`` or
    ``policy.fair_share-true``."""
    if isinstance(value, bool):
        return f"{target.name}-{'true' if value else 'false'}"
    if isinstance(value, str):
        return f"{target.name}-{value}"
    prefix = "" if target.is_policy or target.is_delay else "x"
    return f"{target.name}-{prefix}{format_number(value)}"


def make_scenarios(spec: SweepSpec, drops: Sequence[PolicyDrop] = POLICY_DROPS) -> list[Scenario]:
    """The sweep grid (vary axes in the given order, surplus scale innermost and
    ascending), then the policy-cost scenarios."""
    check_varies(spec.varies)
    scenarios: list[Scenario] = []
    axes = [[(vary.target, value) for value in vary.values] for vary in spec.varies]
    for combination in itertools.product(*axes):
        for scale in spec.surplus_scales:
            parts = [f"surplus-x{format_number(scale)}"]
            parts += [change_label(target, value) for target, value in combination]
            scenarios.append(Scenario(scenario_name(parts), "sweep", scale, tuple(combination)))
    if spec.policy_cost:
        scenarios.append(Scenario(BASE_SCENARIO, "policy_cost"))
        for drop in drops:
            scenarios.append(
                Scenario(
                    drop.scenario,
                    "policy_cost",
                    changes=((drop.target, drop.value),),
                    policy=drop.policy,
                )
            )
    return scenarios


def coordinate_targets(spec: SweepSpec, drops: Sequence[PolicyDrop] = POLICY_DROPS) -> list[Target]:
    """Targets that get a column in ``sweep.csv``: every --vary, then what the policy
    costs change."""
    targets = [vary.target for vary in spec.varies]
    if spec.policy_cost:
        targets += [drop.target for drop in drops if drop.target not in targets]
    return targets


def scaled_column(frame: pd.DataFrame, target: Target, factor: float) -> pd.DataFrame:
    """``frame`` with ``target.column`` multiplied by ``factor``; counts are rounded to
    whole numbers (half up) and every value kept in the column's valid range."""
    column = next(item for item in TABLES[target.table].columns if item.name == target.column)
    values = frame[target.column].to_numpy(dtype="float64") * factor
    if column.kind == "int":
        values = np.floor(values + 0.5)
    low = -np.inf if column.minimum is None else column.minimum
    high = np.inf if column.maximum is None else column.maximum
    values = np.clip(values, low, high)
    scaled = values.astype("int64") if column.kind == "int" else values
    return frame.assign(**{target.column: scaled})


DELAYED_SUPPLY_COLUMNS = ("base_racks", "surplus_max_racks", "surplus_cost")
"""supply.csv columns that move with a delayed product."""


def delayed_product(
    tables: dict[str, pd.DataFrame], product: str, months: int
) -> dict[str, pd.DataFrame]:
    """The tables with ``product`` arriving ``months`` later: its ``available_from`` + k
    and its supply rows moved k months later (month t gets what month t - k had; the
    first k months get no racks, racks planned past the horizon are lost). Its orders,
    prices and initial inventory stay. k = 0 returns the tables as they are."""
    if months == 0:
        return tables
    products = tables["products"].copy()
    own = products["product"] == product
    products.loc[own, "available_from"] = products.loc[own, "available_from"] + months
    supply = tables["supply"].copy()
    own_rows = (supply["product"] == product).to_numpy()
    periods = supply.loc[own_rows, "period"].to_numpy()
    for column in DELAYED_SUPPLY_COLUMNS:
        values = supply.loc[own_rows, column].to_numpy()
        by_period = dict(zip(periods.tolist(), values.tolist(), strict=True))
        before = by_period[int(periods.min())] if column == "surplus_cost" else 0
        moved = [by_period.get(period - months, before) for period in periods.tolist()]
        supply.loc[own_rows, column] = np.asarray(moved, dtype=values.dtype)
    return tables | {"products": products, "supply": supply}


def scenario_instance(base: Instance, scenario: Scenario) -> Instance:
    """The base instance with the scenario's changes, derived data rebuilt."""
    tables = base_tables(base)
    policy = base.policy
    if scenario.surplus_scale != 1.0:
        tables["foundry"] = scaled_column(tables["foundry"], SURPLUS_WAFERS, scenario.surplus_scale)
    for target, value in scenario.changes:
        if target.is_policy:
            changed: dict[str, Any] = {target.column: value}
            policy = dataclasses.replace(policy, **changed)
        elif target.is_delay:
            tables = delayed_product(tables, target.column, int(value))
        else:
            tables[target.table] = scaled_column(tables[target.table], target, float(value))
    settings = dataclasses.replace(base.settings, policy=policy)
    return build_instance(settings, tables)


def scenario_hash(base: Instance, scenario: Scenario, options: RunOptions) -> str:
    """SHA-256 of what decides the result: the base content, the changes that change
    something, and the solve options (not the HiGHS log switch)."""
    solver = dataclasses.asdict(options.solver)
    solver.pop("log", None)
    run = options.as_dict()
    run.pop("lp_beside", None)  # where the LP is solved, not what it gives
    content = {
        "instance": base.content_hash,
        "changes": scenario.canonical_changes(base),
        "options": {**run, "solver": solver},
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


# --- one scenario, in a worker -------------------------------------------------------

_SOLVE_LOCK = threading.Lock()
"""Two Pyomo solves in threads of one process crash: a worker with several threads
still solves one scenario at a time."""


@dataclass
class ScenarioOutcome:
    """What a worker sends back. ``result`` is None when the model is infeasible
    (strict mode); ``conflicts`` then names the clashing rows."""

    instance: Instance
    result: SolveResult | None
    conflicts: tuple[str, ...] = ()
    conflict_method: str = ""
    seconds: float = 0.0
    worker: str = ""
    """``host:pid`` of the process that solved it."""


def solve_scenario(base: Instance, scenario: Scenario, options: RunOptions) -> ScenarioOutcome:
    """The task a worker runs: build the variant, solve it, return plain data."""
    from allocator.errors import InfeasibleError

    worker = f"{socket.gethostname()}:{os.getpid()}"
    with _SOLVE_LOCK:
        started = time.perf_counter()
        instance = scenario_instance(base, scenario)
        # what the priority rule costs is its own scenario (--policy-cost): not a second
        # solve in every scenario
        options = dataclasses.replace(options, priority_cost=False)
        try:
            result = variant_solver(base).solve(instance, options)
        except InfeasibleError as error:
            seconds = time.perf_counter() - started
            return ScenarioOutcome(instance, None, error.conflicts, error.method, seconds, worker)
        seconds = time.perf_counter() - started
        return ScenarioOutcome(instance, result, seconds=seconds, worker=worker)
