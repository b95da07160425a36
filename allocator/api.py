"""The Python API: what the command line does, for a notebook or a script.

```python
import allocator

instance = allocator.load_instance("instances/base-2027")   # raises allocator.InstanceError
result = allocator.solve(instance, time_limit=60, mip_gap=1e-4)
result.status, result.objective          # 'optimal', 141706...
result.allocation                        # DataFrame: the columns of allocation.csv
result.customers                         # customers.csv, why_short included
result.marginal_values                   # marginal_values.csv (None without duals)
result.summary                           # the summary.json dict
result.write("results/base-2027")        # the same files as `allocator solve`, atomically
answer = allocator.promise(result, customer="aws-us-east-1", product="trainium", racks=5, period=3)
answer.available_racks, answer.capable_racks, answer.to_json()   # `allocator promise`
```

The command line (`allocator.cli`) is built on these functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from allocator.data.instance import Instance
from allocator.data.validate import load_instance as _load
from allocator.errors import InfeasibleError, NoPlanError, PlanCheckError, PromiseInputError
from allocator.limits import DEFAULT_SEED
from allocator.outputs.result_files import (
    result_files,
    summary_dict,
    write_infeasible,
    write_result,
)
from allocator.plan.tables import ALLOCATION_COLUMNS
from allocator.promising.answer import CapableOptions, PromiseAnswer, promise_order
from allocator.promising.plan_folder import PlanInput, checked_plan, plan_input, read_plan_folder
from allocator.promising.plan_folder import instance_path as recorded_instance_path
from allocator.promising.request import PromiseRequest
from allocator.solver.highs import SolverOptions
from allocator.solver.pipeline import RunOptions, SolveResult, solve_instance


def load_instance(path: str | Path) -> Instance:
    """Read and validate an instance folder or ``.xlsx`` workbook; raises
    `allocator.InstanceError` listing every problem (file, row, column)."""
    return _load(Path(path))


@dataclass
class Result:
    """A solve's outcome and its tables, as the files of ``allocator solve`` hold them.

    ``status`` is why the solver stopped (``optimal``, ``time_limit``, ``infeasible``,
    ...); ``objective`` is None when there is no plan. For an infeasible strict solve,
    ``conflicts`` names the clashing constraints and the tables are empty."""

    instance: Instance
    options: RunOptions
    solved: SolveResult | None = None
    """The pipeline's result (None for an infeasible strict solve)."""
    infeasible: InfeasibleError | None = None
    conflicts: tuple[str, ...] = field(default=())

    @property
    def status(self) -> str:
        return "infeasible" if self.solved is None else str(self.solved.termination)

    @property
    def objective(self) -> float | None:
        return None if self.solved is None else self.solved.objective

    @property
    def best_bound(self) -> float | None:
        return None if self.solved is None else self.solved.best_bound

    @property
    def mip_gap(self) -> float | None:
        return None if self.solved is None else self.solved.mip_gap

    @property
    def has_plan(self) -> bool:
        return self.solved is not None and self.solved.plan is not None

    @cached_property
    def _files(self) -> dict[str, pd.DataFrame]:
        return result_files(self.solved) if self.has_plan and self.solved is not None else {}

    def _table(self, name: str, columns: list[str]) -> pd.DataFrame:
        frame = self._files.get(name)
        return frame.copy() if frame is not None else pd.DataFrame(columns=columns)

    @property
    def allocation(self) -> pd.DataFrame:
        """allocation.csv: racks per order and ship period (empty without a plan)."""
        return self._table("allocation.csv", ALLOCATION_COLUMNS)

    @property
    def customers(self) -> pd.DataFrame:
        """customers.csv: fill rate, waiting list, shortfall, deal and why_short."""
        return self._table("customers.csv", ["customer"])

    @property
    def surplus(self) -> pd.DataFrame:
        """surplus.csv: surplus racks per product and period."""
        return self._table("surplus.csv", ["product", "period", "racks"])

    @property
    def stock(self) -> pd.DataFrame:
        """stock.csv: base, surplus, shipped racks and stock per product and period."""
        return self._table("stock.csv", ["product", "period"])

    @property
    def marginal_values(self) -> pd.DataFrame | None:
        """marginal_values.csv (None when the solve has no duals)."""
        frame = self._files.get("marginal_values.csv")
        return None if frame is None else frame.copy()

    @property
    def summary(self) -> dict[str, Any]:
        """What summary.json holds (for an infeasible solve: the conflicts)."""
        if self.solved is None:
            return {"status": "infeasible", "conflicts": list(self.conflicts)}
        return summary_dict(self.solved, self.instance.source)

    @property
    def violations(self) -> list[str]:
        """The plan's independent re-check: empty for a plan that may be written."""
        return [] if self.solved is None else list(self.solved.violations)

    def write(self, folder: str | Path) -> Path:
        """The files of ``allocator solve`` into ``folder``, written whole or not at all,
        and only over a folder allocator wrote (`allocator.atomic`). Raises
        `NoPlanError` when the solver found no plan and `PlanCheckError` when the plan
        fails its re-check (nothing is written then)."""
        out = Path(folder)
        protected = [Path(self.instance.source)] if self.instance.source else []
        if self.infeasible is not None:
            write_infeasible(
                self.infeasible,
                self.instance,
                self.options,
                out,
                self.instance.source,
                protected=protected,
            )
            return out
        assert self.solved is not None
        if self.solved.plan is None:
            raise NoPlanError(str(self.solved.termination))
        if self.solved.violations:
            raise PlanCheckError(self.solved.violations)
        write_result(self.solved, out, self.instance.source, protected=protected)
        return out


def solve(
    instance: Instance,
    *,
    time_limit: float | None = None,
    mip_gap: float = 1e-4,
    threads: int = 1,
    strict: bool = False,
    relax: bool = False,
    seed: int = DEFAULT_SEED,
    log: bool = False,
    priority_cost: bool = True,
    clock_started: float | None = None,
) -> Result:
    """Build, solve and read back ``instance`` (the options of ``allocator solve``).

    ``time_limit`` counts from ``clock_started`` (a `time.monotonic`; None: this call,
    so building the model counts in it). An infeasible strict model is a `Result` with
    status ``infeasible`` and its ``conflicts``, not an exception. Under ``priority_rule =
    "lexicographic"`` the result's ``summary`` has ``priority_stages`` and, unless
    ``priority_cost`` is off, ``priority_cost`` (one more solve, under the profit rule)."""
    options = RunOptions(
        SolverOptions(time_limit=time_limit, mip_gap=mip_gap, threads=threads, seed=seed, log=log),
        strict=strict,
        relax=relax,
        priority_cost=priority_cost,
    )
    try:
        solved = solve_instance(instance, options, clock_started=clock_started)
    except InfeasibleError as error:
        return Result(instance, options, infeasible=error, conflicts=error.conflicts)
    return Result(instance, options, solved=solved)


def promise(
    result_or_folder: Result | str | Path,
    *,
    customer: str,
    product: str,
    racks: int,
    period: int,
    max_delay: int = 0,
    price: float | None = None,
    delay_penalty: float = 0.0,
    instance: Instance | str | Path | None = None,
    time_limit: float | None = None,
    mip_gap: float = 1e-4,
    threads: int = 1,
    strict: bool = False,
    log: bool = False,
    capable: bool = True,
) -> PromiseAnswer:
    """``allocator promise``: can ``racks`` of ``product`` be promised to ``customer`` for
    ``period`` (shippable until ``period + max_delay``), against a plan: a `Result` with a
    plan, or a plan folder (an ``allocator solve`` output or a nightly published folder;
    its instance is the one it records unless ``instance`` is given).

    Returns a `PromiseAnswer`: ``available_racks``, ``available_schedule``,
    ``available_surplus`` (every shipment of the plan kept), ``capable_racks``,
    ``objective_change``, ``orders_losing`` (the whole model solved again with the order,
    with the solve options given; None with ``capable=False``), ``to_json()``. Raises
    `PromiseInputError` for an unknown customer or product, a number out of range, no
    plan, or a plan that fails its re-check against the instance."""
    request = PromiseRequest(customer, product, racks, period, max_delay, price, delay_penalty)
    options = CapableOptions(time_limit, mip_gap, threads, strict, log)
    if isinstance(result_or_folder, Result):
        plan = _result_plan(result_or_folder, instance)
    else:
        folder = read_plan_folder(Path(result_or_folder))
        if isinstance(instance, Instance):
            solved = instance
        else:
            given = None if instance is None else Path(instance)
            solved = load_instance(recorded_instance_path(folder, given))
        plan = plan_input(folder, solved)
    return promise_order(plan, request, options=options, capable=capable)


def _result_plan(result: Result, instance: Instance | str | Path | None) -> PlanInput:
    """A solve's plan, re-checked against ``instance`` (default: the one solved)."""
    if result.solved is None or result.solved.plan is None:
        raise PromiseInputError(f"the result holds no plan (status {result.status})")
    if result.options.relax:
        raise PromiseInputError("the result is an LP relaxation (relax=True), not a plan")
    if instance is None:
        solved = result.instance
    else:
        solved = instance if isinstance(instance, Instance) else load_instance(instance)
    plan = result.solved.plan
    return checked_plan(
        solved,
        plan.allocation,
        plan.surplus,
        plan.deal_accepted,
        "the result",
        recorded_hash=result.instance.content_hash,
        recorded_objective=result.objective,
    )
