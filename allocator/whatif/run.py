"""What-if sweeps: many variants of one instance, solved independently, one table out.

A sweep is a list of `Scenario` values, each a small set of changes to the base
instance: a multiplier on the foundry's surplus wafers (``--surplus-scale``), a policy
value set (``--vary policy.KEY=V,...``), a table column multiplied
(``--vary TABLE.COLUMN=F,...``); several axes make their Cartesian product.
``--policy-cost`` adds the base instance and, for each policy, the base instance without
it. Names are deterministic and readable (``surplus-x1.5__policy.third_party_max_share-0.35``).

Each scenario is a separate solve. The worker gets the base `Instance` (pickleable
DataFrames) and the scenario, rebuilds the variant with `build_instance` and solves it
with its own HiGHS (one thread by default): Pyomo models are never shipped. A worker
keeps the base instance's model compiled and solves a variant that changes only bounds,
right-hand sides or costs (surplus wafers, the policy values, prices...) on a copy of its
arrays with those numbers updated (`allocator.solve.resolve`; the same arrays a rebuild gives);
any other variant is built and compiled whole. Workers are Dask distributed processes
(a `LocalCluster` with one single-threaded worker per core, or an existing cluster at
``--scheduler``); ``--workers 1`` solves in this process.

Results are written as each scenario arrives: ``DIR/scenarios/<name>/`` gets the full
`allocator solve` outputs (atomically, by `allocator.outputs.result_files`), then ``scenario.json``,
the done-marker holding the scenario's content hash and its sweep row. A rerun skips
every scenario whose marker has the same hash, so an interrupted sweep loses nothing and
solves nothing twice. ``DIR/sweep.csv`` is rewritten atomically after each arrival. A
scenario that fails is a status in its row (``error`` rows are retried on a rerun), never
an exception that stops the sweep.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from allocator.atomic import (
    MARKER_FILE,
    MARKER_TEXT,
    check_replaceable,
    publish_folder,
    resolve_output,
    write_file,
    write_json,
    write_json_atomically,
)
from allocator.data.instance import Instance, Policy, build_instance
from allocator.data.schema import SETTINGS, TABLES
from allocator.solve.pipeline import RunOptions, SolveResult
from allocator.solve.resolve import solve_instance, variants_of

if TYPE_CHECKING:
    from distributed import Client

SCENARIOS_FOLDER = "scenarios"
DONE_FILE = "scenario.json"
"""A scenario's done-marker: its hash and sweep row, written with its outputs."""
SWEEP_FILE = "sweep.csv"
SWEEP_INFO_FILE = "sweep.json"
POLICY_COST_FILE = "policy_cost.csv"
MAX_NAME_LENGTH = 180
"""Longer scenario names are cut and end in a short hash (folder names stay legal)."""

RETRIED_STATUSES = frozenset({"error"})
"""Row statuses a rerun solves again: an exception may be transient (a lost worker);
every other status (optimal, time_limit, infeasible) is what the same solve gives again."""


class WhatifError(ValueError):
    """A bad sweep definition (``--vary``, ``--surplus-scale``, ``--scheduler``): the CLI
    exits 2."""


class SchedulerError(RuntimeError):
    """The Dask scheduler at ``--scheduler`` could not be reached or used (exit 1)."""


SCHEDULER_PROTOCOLS = ("tcp", "tls", "inproc", "ucx", "ws", "wss")


def check_scheduler_address(address: str) -> None:
    """``PROTOCOL://HOST:PORT`` (Dask's address form); `WhatifError` otherwise."""
    protocol, separator, location = address.partition("://")
    host, colon, port = location.rpartition(":")
    if (
        not separator
        or protocol not in SCHEDULER_PROTOCOLS
        or not colon
        or not host
        or not port.isdigit()
        or not 0 < int(port) < 65536
    ):
        raise WhatifError(
            f"--scheduler {address!r}: give a Dask scheduler address like tcp://HOST:8786"
        )


def check_sweep_folder(out_dir: Path, instance_path: Path) -> None:
    """A sweep is written into (and resumed from) ``out_dir``: new, empty, or a folder
    allocator wrote; never the current folder, the instance or a folder holding it
    (`allocator.atomic.check_replaceable`); `OutputError` otherwise."""
    check_replaceable(resolve_output(out_dir), protected=[instance_path])


# --- what a scenario changes ---------------------------------------------------------

POLICY_KEYS: tuple[str, ...] = tuple(item.name for item in dataclasses.fields(Policy))


@dataclass(frozen=True, order=True)
class Target:
    """What a ``--vary`` changes: ``policy.KEY`` (set) or ``TABLE.COLUMN`` (multiplied)."""

    table: str
    column: str

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    @property
    def is_policy(self) -> bool:
        return self.table == "policy"

    def base_value(self, instance: Instance) -> float:
        """The value that leaves the instance as it is: the policy value or factor 1."""
        return float(getattr(instance.policy, self.column)) if self.is_policy else 1.0


SURPLUS_WAFERS = Target("foundry", "surplus_wafers")


@dataclass(frozen=True)
class Vary:
    """One ``--vary`` axis."""

    target: Target
    values: tuple[float, ...]


@dataclass(frozen=True)
class PolicyDrop:
    """A policy and the change that switches it off (``--policy-cost``)."""

    policy: str
    scenario: str
    target: Target
    value: float
    description: str


POLICY_DROPS: tuple[PolicyDrop, ...] = (
    PolicyDrop(
        "third_party_share_cap",
        "no-third-party-share-cap",
        Target("policy", "third_party_max_share"),
        1.0,
        "third-party share cap (third_party_max_share set to 1)",
    ),
    PolicyDrop(
        "internal_min_fill",
        "no-internal-min-fill",
        Target("customers", "min_fill"),
        0.0,
        "internal minimum fill (min_fill set to 0 for every customer)",
    ),
    PolicyDrop(
        "min_contract_racks",
        "no-min-contract-racks",
        Target("customers", "min_contract_racks"),
        0.0,
        "third-party minimum contract sizes (min_contract_racks set to 0)",
    ),
)
BASE_SCENARIO = "base"


@dataclass(frozen=True)
class Scenario:
    """One variant of the base instance. ``changes`` are (target, value): a policy value
    to set or a column factor; ``policy`` names the policy a policy-cost scenario drops."""

    name: str
    kind: Literal["sweep", "policy_cost"]
    surplus_scale: float = 1.0
    changes: tuple[tuple[Target, float], ...] = ()
    policy: str | None = None

    def value(self, target: Target, base: Instance) -> float:
        """This scenario's value for ``target`` (the base value where it leaves it)."""
        for changed, value in self.changes:
            if changed == target:
                return value
        return target.base_value(base)

    def canonical_changes(self, base: Instance) -> list[tuple[str, float]]:
        """The changes that change something, sorted: equal content, equal list."""
        changes = [
            (target.name, value)
            for target, value in self.changes
            if value != target.base_value(base)
        ]
        if self.surplus_scale != 1.0:
            changes.append(("surplus_scale", self.surplus_scale))
        return sorted(changes)


@dataclass(frozen=True)
class SweepSpec:
    """What the command line asked for."""

    surplus_scales: tuple[float, ...] = (1.0,)
    varies: tuple[Vary, ...] = ()
    policy_cost: bool = False


# --- parsing the command line's sweep definition -------------------------------------


def parse_numbers(text: str, what: str) -> tuple[float, ...]:
    """``"0,0.5,1"`` -> (0.0, 0.5, 1.0): finite numbers, duplicates dropped, order kept."""
    values: list[float] = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = float(part)
        except ValueError:
            raise WhatifError(f"{what}: {part!r} is not a number") from None
        if not math.isfinite(value):
            raise WhatifError(f"{what}: {part!r} is not a finite number")
        if value not in values:
            values.append(value)
    return tuple(values)


def parse_surplus_scales(text: str) -> tuple[float, ...]:
    scales = parse_numbers(text, "--surplus-scale")
    negative = [scale for scale in scales if scale < 0]
    if negative:
        raise WhatifError(f"--surplus-scale: factors must be >= 0 (got {negative[0]:g})")
    return tuple(sorted(scales))


def parse_target(name: str) -> Target:
    """``policy.KEY`` or ``TABLE.COLUMN`` with a numeric, non-period column."""
    table, dot, column = name.strip().partition(".")
    if not dot or not table or not column:
        raise WhatifError(
            f"--vary {name!r}: name policy.KEY or TABLE.COLUMN (for example "
            "policy.third_party_max_share or orders.price_per_rack)"
        )
    if table == "policy":
        if column not in POLICY_KEYS:
            raise WhatifError(
                f"--vary {name!r}: unknown policy key {column!r} (known: {', '.join(POLICY_KEYS)})"
            )
        return Target(table, column)
    if table not in TABLES:
        known = ", ".join(["policy", *TABLES])
        raise WhatifError(f"--vary {name!r}: unknown table {table!r} (known: {known})")
    scalable = scalable_columns(table)
    if column not in scalable:
        what = "unknown column" if column not in TABLES[table].column_names else "not scalable"
        raise WhatifError(
            f"--vary {name!r}: {what} {column!r} in {table} "
            f"(numeric columns that can be scaled: {', '.join(scalable) or 'none'})"
        )
    return Target(table, column)


def scalable_columns(table: str) -> list[str]:
    """Columns a ``--vary`` may multiply: numbers and counts, not ids or periods."""
    return [
        column.name
        for column in TABLES[table].columns
        if column.kind in ("int", "number") and not column.period
    ]


def parse_vary(text: str) -> Vary:
    """``NAME=V1,V2,...``: policy values are set (and must be in range), factors >= 0."""
    name, equals, values_text = text.partition("=")
    if not equals or not values_text.strip():
        raise WhatifError(f"--vary {text!r}: write NAME=V1,V2,... (for example policy.KEY=0.2,0.5)")
    target = parse_target(name)
    values = parse_numbers(values_text, f"--vary {target.name}")
    if target.is_policy:
        setting = next(item for item in SETTINGS if item.key == target.name)
        for value in values:
            low = -math.inf if setting.minimum is None else setting.minimum
            high = math.inf if setting.maximum is None else setting.maximum
            if not low <= value <= high:
                raise WhatifError(
                    f"--vary {target.name}: {value:g} is out of range "
                    f"[{setting.minimum}, {setting.maximum if setting.maximum is not None else ''}]"
                )
    elif any(value < 0 for value in values):
        raise WhatifError(f"--vary {target.name}: factors must be >= 0")
    return Vary(target, values)


def check_varies(varies: Sequence[Vary]) -> None:
    names = [vary.target.name for vary in varies]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise WhatifError(f"--vary {repeated[0]} is given more than once: list its values once")


# --- scenarios -----------------------------------------------------------------------


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


def change_label(target: Target, value: float) -> str:
    """``policy.third_party_max_share-0.35`` (set) or ``orders.price_per_rack-x0.9`` (factor)."""
    prefix = "" if target.is_policy else "x"
    return f"{target.name}-{prefix}{format_number(value)}"


def make_scenarios(spec: SweepSpec) -> list[Scenario]:
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
        for drop in POLICY_DROPS:
            scenarios.append(
                Scenario(
                    drop.scenario,
                    "policy_cost",
                    changes=((drop.target, drop.value),),
                    policy=drop.policy,
                )
            )
    return scenarios


def coordinate_targets(spec: SweepSpec) -> list[Target]:
    """Targets that get a column in ``sweep.csv``: every --vary, then what the policy
    costs change."""
    targets = [vary.target for vary in spec.varies]
    if spec.policy_cost:
        targets += [drop.target for drop in POLICY_DROPS if drop.target not in targets]
    return targets


def base_tables(instance: Instance) -> dict[str, pd.DataFrame]:
    """The instance's base tables (schema columns; ``supply`` as its full grid)."""
    return {
        name: getattr(instance, name).loc[:, list(table.column_names)]
        for name, table in TABLES.items()
    }


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


def scenario_instance(base: Instance, scenario: Scenario) -> Instance:
    """The base instance with the scenario's changes, derived data rebuilt."""
    tables = base_tables(base)
    policy = base.policy
    if scenario.surplus_scale != 1.0:
        tables["foundry"] = scaled_column(tables["foundry"], SURPLUS_WAFERS, scenario.surplus_scale)
    for target, value in scenario.changes:
        if target.is_policy:
            policy = dataclasses.replace(policy, **{target.column: value})
        else:
            tables[target.table] = scaled_column(tables[target.table], target, value)
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
        try:
            with variants_of(base):
                result = solve_instance(instance, options)
        except InfeasibleError as error:
            seconds = time.perf_counter() - started
            return ScenarioOutcome(instance, None, error.conflicts, error.method, seconds, worker)
        seconds = time.perf_counter() - started
        return ScenarioOutcome(instance, result, seconds=seconds, worker=worker)


# --- rows of sweep.csv ---------------------------------------------------------------

METRIC_COLUMNS: tuple[str, ...] = (
    "status",
    "objective",
    "best_bound",
    "mip_gap",
    "rack_revenue_internal",
    "rack_revenue_third_party",
    "service_margin",
    "surplus_cost",
    "shortfall_penalty",
    "internal_fill_rate",
    "internal_waiting_list_racks",
    "third_party_racks",
    "surplus_racks",
    "surplus_wafers_used",
    "surplus_wafers_offered",
    "deals_accepted",
    "marginal_value_per_wafer",
    "solve_seconds",
    "seconds",
    "worker",
    "message",
)


def outcome_row(outcome: ScenarioOutcome) -> dict[str, Any]:
    """The sweep row of a finished scenario (without its coordinates)."""
    instance = outcome.instance
    row: dict[str, Any] = {
        "surplus_wafers_offered": float(instance.surplus_wafers.sum()),
        "seconds": round(outcome.seconds, 6),
        "worker": outcome.worker,
    }
    result = outcome.result
    if result is None:
        shown = ", ".join(outcome.conflicts) or "(none identified)"
        return row | {"status": "infeasible", "message": f"conflicts: {shown}"}
    row |= {
        "status": str(result.status),
        "best_bound": result.best_bound,
        "mip_gap": result.mip_gap,
        "solve_seconds": round(result.solve_seconds, 6),
    }
    if result.plan is None:
        return row | {"message": "no plan: the solver stopped without one"}
    if result.violations:
        return row | {"status": "error", "message": "plan fails its own check"}
    return row | {"objective": result.objective} | plan_metrics(result)


def plan_metrics(result: SolveResult) -> dict[str, Any]:
    """Objective terms and fill figures of a plan, as sweep columns."""
    from allocator.plan.tables import customer_table

    instance, plan, terms = result.instance, result.plan, result.objective_terms
    assert plan is not None
    customers = customer_table(instance, plan)
    internal = customers[customers["segment"] == "internal"]
    requested = float(internal["requested"].sum())
    allocated = float(internal["allocated"].sum())
    wafers_per_rack = plan.surplus["product"].map(
        instance.products.set_index("product")["wafers_per_rack"]
    )
    return {
        "rack_revenue_internal": terms.get("rack_revenue_internal", 0.0),
        "rack_revenue_third_party": terms.get("rack_revenue_third_party", 0.0),
        "service_margin": sum(
            value for name, value in terms.items() if name.startswith("service_margin_")
        ),
        "surplus_cost": terms.get("surplus_cost", 0.0),
        "shortfall_penalty": terms.get("shortfall_penalty", 0.0),
        "internal_fill_rate": allocated / requested if requested else None,
        "internal_waiting_list_racks": requested - allocated,
        "third_party_racks": float(
            customers.loc[customers["segment"] == "third_party", "allocated"].sum()
        ),
        "surplus_racks": float(plan.surplus["racks"].sum()),
        "surplus_wafers_used": float((plan.surplus["racks"] * wafers_per_rack).sum()),
        "deals_accepted": int((plan.deal_accepted > 0.5).sum()),
    }


def has_plan(row: dict[str, Any] | None) -> bool:
    return row is not None and row.get("objective") is not None


def sweep_table(
    base: Instance,
    scenarios: Sequence[Scenario],
    hashes: dict[str, str],
    rows: dict[str, dict[str, Any]],
    targets: Sequence[Target],
) -> pd.DataFrame:
    """One row per scenario (``pending`` until it arrives), with the finite-difference
    value of a surplus wafer along each line of the surplus axis."""
    records = []
    for scenario in scenarios:
        record: dict[str, Any] = {
            "scenario": scenario.name,
            "kind": scenario.kind,
            "policy_dropped": scenario.policy or "",
            "surplus_scale": scenario.surplus_scale,
        }
        record |= {target.name: scenario.value(target, base) for target in targets}
        record |= {column: None for column in METRIC_COLUMNS}
        record |= rows.get(scenario.name, {"status": "pending"})
        record["hash"] = hashes[scenario.name][:16]
        records.append(record)
    columns = ["scenario", "kind", "policy_dropped", "surplus_scale"]
    columns += [target.name for target in targets] + [*METRIC_COLUMNS, "hash"]
    table = pd.DataFrame.from_records(records, columns=columns)
    table["marginal_value_per_wafer"] = marginal_values_per_wafer(table, targets)
    return table


def marginal_values_per_wafer(table: pd.DataFrame, targets: Sequence[Target]) -> pd.Series:
    """(objective - previous objective) / (wafers offered - previous wafers offered)
    between consecutive surplus scales of the same other coordinates (sweep rows only).
    Exact for the MIP when both points are solved to optimality (--mip-gap 0)."""
    values = pd.Series(np.nan, index=table.index, dtype="float64")
    sweep = table[table["kind"] == "sweep"]
    keys = [target.name for target in targets]
    groups = sweep.groupby(keys, sort=False, dropna=False) if keys else [((), sweep)]
    for _, line in groups:
        line = line.sort_values("surplus_scale")
        objective = pd.to_numeric(line["objective"], errors="coerce")
        wafers = pd.to_numeric(line["surplus_wafers_offered"], errors="coerce")
        step = wafers.diff()
        value = objective.diff() / step.where(step.abs() > 1e-12)
        values.loc[line.index] = value.to_numpy()
    return values


def policy_cost_table(rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """What each policy costs: objective without it minus objective with it.

    Dropping a constraint cannot lower a maximum, so the true cost is >= 0. With a MIP
    gap both objectives are only within their bounds, so the true cost lies in
    [objective_without - bound_with, bound_without - objective_with]; ``cost`` is the
    difference of the plans found, floored at 0. At --mip-gap 0 all three agree.
    ``of_which_shortfall_penalty`` is the part that is the internal shortfall penalty no
    longer paid (most of what dropping the min fill gains)."""
    base = rows.get(BASE_SCENARIO)
    records = []
    for drop in POLICY_DROPS:
        without = rows.get(drop.scenario)
        record: dict[str, Any] = {
            "policy": drop.policy,
            "description": drop.description,
            "scenario": drop.scenario,
            "objective_with": base.get("objective") if base else None,
            "objective_without": without.get("objective") if without else None,
        }
        if base is not None and without is not None and has_plan(base) and has_plan(without):
            with_objective, without_objective = base["objective"], without["objective"]
            with_bound = _bound(base)
            without_bound = _bound(without)
            difference = without_objective - with_objective
            penalty = (without.get("shortfall_penalty") or 0.0) - (
                base.get("shortfall_penalty") or 0.0
            )
            record |= {
                "objective_difference": difference,
                "of_which_shortfall_penalty": penalty,
                "cost": max(0.0, difference),
                "cost_low": max(0.0, without_objective - with_bound),
                "cost_high": max(0.0, without_bound - with_objective),
                "exact": base.get("status") == "optimal"
                and without.get("status") == "optimal"
                and not base.get("mip_gap")
                and not without.get("mip_gap"),
            }
        records.append(record)
    columns = [
        "policy",
        "description",
        "scenario",
        "objective_with",
        "objective_without",
        "objective_difference",
        "of_which_shortfall_penalty",
        "cost",
        "cost_low",
        "cost_high",
        "exact",
    ]
    return pd.DataFrame.from_records(records, columns=columns)


def _bound(row: dict[str, Any]) -> float:
    bound = row.get("best_bound")
    objective = float(row["objective"])
    if bound is None or not math.isfinite(float(bound)):
        return objective
    return max(float(bound), objective)


# --- the result folder ---------------------------------------------------------------


def write_csv_atomic(path: Path, frame: pd.DataFrame) -> None:
    write_file(path, lambda temporary: frame.to_csv(temporary, index=False, lineterminator="\n"))


@dataclass
class SweepFolder:
    """``DIR``: ``scenarios/<name>/`` with a ``scenario.json`` marker each, ``sweep.csv``."""

    out_dir: Path
    source: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def scenario_dir(self, scenario: Scenario) -> Path:
        return self.out_dir / SCENARIOS_FOLDER / scenario.name

    def done_row(self, scenario: Scenario, key: str) -> dict[str, Any] | None:
        """The row of a finished scenario with this hash, or None (to solve)."""
        marker = self.scenario_dir(scenario) / DONE_FILE
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        row = data.get("row") if isinstance(data, dict) else None
        if data.get("hash") != key or not isinstance(row, dict):
            return None
        if row.get("status") in RETRIED_STATUSES:
            return None
        return row

    def write_outcome(self, scenario: Scenario, key: str, outcome: ScenarioOutcome) -> dict:
        """The scenario's solve outputs and its marker, in one atomic folder swap: a kill
        leaves the scenario either done (outputs and marker) or not started."""
        from allocator.errors import InfeasibleError
        from allocator.outputs.result_files import summary_dict, write_infeasible, write_result

        row = outcome_row(outcome)
        folder = self.scenario_dir(scenario)
        source = f"{self.source} (what-if scenario {scenario.name})"
        marker = {DONE_FILE: self._marker(scenario, key, row)}
        result = outcome.result
        if result is None:
            error = InfeasibleError(outcome.conflicts, outcome.conflict_method)
            options = RunOptions()
            write_infeasible(error, outcome.instance, options, folder, source, extra_json=marker)
        elif has_plan(row):
            write_result(result, folder, source, extra_json=marker)
        else:
            summary = summary_dict(result, source) | {"message": row.get("message")}
            self._write_json_files(folder, {"summary.json": summary, **marker})
        return row

    def write_error(self, scenario: Scenario, key: str, message: str) -> dict[str, Any]:
        row = {"status": "error", "message": message}
        summary = {
            "status": "error",
            "objective": None,
            "message": message,
            "scenario": scenario.name,
        }
        self._write_json_files(
            self.scenario_dir(scenario),
            {"summary.json": summary, DONE_FILE: self._marker(scenario, key, row)},
        )
        return row

    def copy_done(self, source: Scenario, target: Scenario, key: str, row: dict) -> None:
        """A scenario with the same content as a finished one: copy its outputs."""
        origin = self.scenario_dir(source)

        def fill(folder: Path) -> None:
            shutil.copytree(origin, folder, dirs_exist_ok=True)
            write_json(folder / DONE_FILE, self._marker(target, key, row))

        publish_folder(self.scenario_dir(target), fill)

    def _write_json_files(self, folder: Path, files: dict[str, Any]) -> None:
        def fill(staging: Path) -> None:
            for name, data in files.items():
                write_json(staging / name, data)

        publish_folder(folder, fill)

    def _marker(self, scenario: Scenario, key: str, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": scenario.name,
            "kind": scenario.kind,
            "hash": key,
            "changes": {target.name: value for target, value in scenario.changes},
            "surplus_scale": scenario.surplus_scale,
            "run_id": self.run_id,
            "row": row,
        }


# --- running the sweep ---------------------------------------------------------------

Completed = tuple[str, ScenarioOutcome | None, str | None]
"""(scenario hash, outcome or None, error message or None)."""


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".strip()


def run_serial(
    base: Instance, jobs: Sequence[tuple[str, Scenario]], options: RunOptions
) -> Iterator[Completed]:
    """Solve in this process, one after the other."""
    for key, scenario in jobs:
        try:
            outcome = solve_scenario(base, scenario, options)
        except Exception as error:  # a failed scenario is a row, not the end of the sweep
            yield key, None, _describe(error)
            continue
        yield key, outcome, None


def run_dask(
    client: Client, base: Instance, jobs: Sequence[tuple[str, Scenario]], options: RunOptions
) -> Iterator[Completed]:
    """Submit every scenario to the cluster; yield each as it completes. The base
    instance goes to the workers once; each task rebuilds its variant there."""
    from distributed import as_completed

    base_future = client.scatter(base, broadcast=True, hash=False)
    # every core already runs a worker: no second process for the marginal-value LP
    options = dataclasses.replace(options, lp_beside=False)
    futures = {
        client.submit(
            solve_scenario, base_future, scenario, options, key=f"allocator-whatif-{key}"
        ): key
        for key, scenario in jobs
    }
    try:
        for future in as_completed(futures):
            key = futures[future]
            try:
                outcome = future.result()
            except Exception as error:  # raised in the worker, or the worker was lost
                yield key, None, _describe(error)
            else:
                yield key, outcome, None
            future.release()
    finally:
        client.cancel(list(futures), force=True)


@contextmanager
def dask_client(workers: int, scheduler: str | None) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a new local cluster of
    ``workers`` single-threaded worker processes."""
    import logging

    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, ValueError, TypeError) as error:  # refused, timed out, malformed
            raise SchedulerError(
                f"--scheduler {scheduler}: cannot use the Dask scheduler: {error}"
            ) from None
        with client:
            yield client
        return
    with (
        # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which pins glibc's
        # mmap threshold at 128 KiB: every large Pyomo/NumPy allocation is then an
        # mmap/munmap pair (~100,000 per base-2027 solve, ~1 s of system time). Unset it.
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@dataclass
class SweepReport:
    """What a sweep did, and its tables."""

    out_dir: Path
    table: pd.DataFrame
    policy_costs: pd.DataFrame | None
    solved: int
    skipped: int
    failed: int
    errors: int
    charts: list[Path]
    seconds: float


OnWritten = Callable[[str, dict[str, Any]], None]
"""Called with the scenario name and row once its files and sweep.csv are written."""


def run_whatif(
    base: Instance,
    source: str,
    out_dir: Path,
    spec: SweepSpec,
    options: RunOptions,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    show_progress: bool = False,
    on_written: OnWritten | None = None,
) -> SweepReport:
    """Run (or finish) a sweep into ``out_dir``; see the module docstring."""
    started = time.perf_counter()
    scenarios = make_scenarios(spec)
    targets = coordinate_targets(spec)
    hashes = {scenario.name: scenario_hash(base, scenario, options) for scenario in scenarios}
    groups: dict[str, list[Scenario]] = {}
    for scenario in scenarios:
        groups.setdefault(hashes[scenario.name], []).append(scenario)

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER_FILE).write_text(MARKER_TEXT, encoding="utf-8")
    (out_dir / SCENARIOS_FOLDER).mkdir(exist_ok=True)
    folder = SweepFolder(out_dir, source)
    rows, jobs = _resume(folder, groups)
    skipped = len(groups) - len(jobs)
    write_json_atomically(
        out_dir / SWEEP_INFO_FILE, _sweep_info(base, source, spec, options, hashes)
    )

    def write_table() -> pd.DataFrame:
        table = sweep_table(base, scenarios, hashes, rows, targets)
        write_csv_atomic(out_dir / SWEEP_FILE, table)
        return table

    write_table()
    solved = 0
    with _Progress(show_progress, len(groups), skipped) as progress:
        for key, outcome, message in _execute(base, jobs, options, workers, scheduler, progress):
            for scenario in groups[key]:
                if outcome is not None:
                    row = folder.write_outcome(scenario, key, outcome)
                else:
                    row = folder.write_error(scenario, key, message or "error")
                rows[scenario.name] = row
            solved += 1
            write_table()
            progress.advance(failed=not has_plan(rows[groups[key][0].name]))
            if on_written is not None:
                for scenario in groups[key]:
                    on_written(scenario.name, rows[scenario.name])

    table = write_table()
    policy_costs = None
    if spec.policy_cost:
        policy_costs = policy_cost_table(rows)
        write_csv_atomic(out_dir / POLICY_COST_FILE, policy_costs)
    else:
        (out_dir / POLICY_COST_FILE).unlink(missing_ok=True)  # of an earlier sweep here
    from allocator.outputs.charts import write_charts

    series = [vary.target.name for vary in spec.varies]
    charts = write_charts(table, series, policy_costs, out_dir, base.name, base.settings.currency)
    statuses = table["status"]
    return SweepReport(
        out_dir,
        table,
        policy_costs,
        solved,
        skipped,
        failed=int((table["objective"].isna()).sum()),
        errors=int((statuses == "error").sum()),
        charts=charts,
        seconds=time.perf_counter() - started,
    )


def _resume(
    folder: SweepFolder, groups: dict[str, list[Scenario]]
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, Scenario]]]:
    """Rows of finished scenarios; the (hash, scenario) jobs still to solve. A scenario
    with the same content as a finished one gets a copy of its outputs."""
    rows: dict[str, dict[str, Any]] = {}
    jobs: list[tuple[str, Scenario]] = []
    for key, members in groups.items():
        done = {member.name: folder.done_row(member, key) for member in members}
        finished = [member for member in members if done[member.name] is not None]
        if not finished:
            jobs.append((key, members[0]))
            continue
        row = done[finished[0].name]
        assert row is not None
        for member in members:
            if done[member.name] is None:
                folder.copy_done(finished[0], member, key, row)
            rows[member.name] = row
    return rows, jobs


def _execute(
    base: Instance,
    jobs: Sequence[tuple[str, Scenario]],
    options: RunOptions,
    workers: int,
    scheduler: str | None,
    progress: _Progress,
) -> Iterator[Completed]:
    if not jobs:
        return
    if scheduler is None and workers <= 1:
        progress.set_slots(1)
        yield from run_serial(base, jobs, options)
        return
    with dask_client(min(workers, len(jobs)), scheduler) as client:
        progress.set_slots(max(1, sum(client.nthreads().values())))
        yield from run_dask(client, base, jobs, options)


def _sweep_info(
    base: Instance, source: str, spec: SweepSpec, options: RunOptions, hashes: dict[str, str]
) -> dict[str, Any]:
    from allocator.solve.pipeline import versions

    return {
        "instance": {"name": base.name, "source": source, "content_hash": base.content_hash},
        "surplus_scales": list(spec.surplus_scales),
        "vary": {vary.target.name: list(vary.values) for vary in spec.varies},
        "policy_cost": spec.policy_cost,
        "options": options.as_dict(),
        "scenarios": hashes,
        "versions": versions(),
    }


class _Progress:
    """A rich progress bar of scenarios done, running and failed (or nothing)."""

    def __init__(self, show: bool, total: int, done: int) -> None:
        self.total, self.done, self.failed, self.slots = total, done, 0, 1
        self._bar: Any = None
        self._task: Any = None
        if show:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("what-if"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("done, {task.fields[running]} running, {task.fields[failed]} failed"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task(
                "what-if", total=self.total, completed=self.done, running=0, failed=0
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def set_slots(self, slots: int) -> None:
        self.slots = slots
        self._refresh()

    def advance(self, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        self._refresh()

    def _refresh(self) -> None:
        if self._bar is not None:
            running = min(self.slots, self.total - self.done)
            self._bar.update(self._task, completed=self.done, running=running, failed=self.failed)
