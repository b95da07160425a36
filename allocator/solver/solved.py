"""What a solve is run with (`RunOptions`) and what it gives back (`SolveResult`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from allocator import __version__
from allocator.data.instance import Instance
from allocator.model.build import ModelOptions
from allocator.plan.tables import Plan
from allocator.solver.highs import Solution, SolverOptions, Termination, highs_version
from allocator.solver.stages import StageReport


@dataclass(frozen=True)
class RunOptions:
    """Everything a solve is run with."""

    solver: SolverOptions = field(default_factory=SolverOptions)
    strict: bool = False
    relax: bool = False
    marginal_values: bool = True
    lp_beside: bool = True
    """For a MIP, solve the LP relaxation for the marginal values in a second process
    while the MIP runs, when the machine has a core to spare (`allocator.solver.lp_beside`).
    Off where every core already runs a solve (what-if workers)."""
    priority_cost: bool = True
    """Under the lexicographic rule, also solve the instance under the profit rule and
    report ``priority_cost`` (what putting the tiers first costs)."""
    lp_first: bool = False
    """For a MIP, solve the LP relaxation first: marginal values and a rounded MIP start.
    Off by default: with that start HiGHS 1.15.1 stayed in the root node of a generated
    34k-variable instance for over 6 minutes past a 60 s time limit (ship-nothing start:
    stopped at 61 s). Without a time limit, models of 10k columns or more start from a
    rounded and RINS-improved plan anyway (`allocator.solver.neighbourhood`)."""

    def model_options(self) -> ModelOptions:
        return ModelOptions(strict=self.strict, relax=self.relax)

    def as_dict(self) -> dict[str, Any]:
        """The options as recorded (``summary.json``, what-if hashes): ``priority_cost``
        only when switched off and ``max_nodes`` only when set, so records of other runs
        stay as they were."""
        options = asdict(self)
        if self.priority_cost:
            del options["priority_cost"]
        if self.solver.max_nodes is None:
            del options["solver"]["max_nodes"]
        return options


@dataclass(kw_only=True)
class SolveResult:
    """A finished solve: why the solver stopped (``termination``, the summary's
    ``status``) and the plan it found (``plan`` None when ``solution`` is ``none``)."""

    instance: Instance
    options: RunOptions
    termination: Termination
    solution: Solution
    plan: Plan | None
    objective: float | None
    objective_terms: dict[str, float]
    solver_objective: float | None
    best_bound: float | None
    mip_gap: float | None
    marginal_values: pd.DataFrame | None
    marginal_values_source: str | None
    violations: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    plan_source: str | None = None
    """Where the plan came from: ``highs``, or an anytime plan of a time-limited solve
    that beat HiGHS's incumbent (``lp_rounding``, ``greedy``; `allocator.solver.anytime`)."""
    bound_source: str | None = None
    """Whose bound ``best_bound`` is: ``highs``, or for a time-limited MIP the tighter
    ``lp_relaxation`` or ``lagrangian`` (`allocator.solver.bound`, while the LP relaxation
    has not finished)."""
    priority_stages: tuple[StageReport, ...] = ()
    """Under the lexicographic rule, every stage in the order solved, profit last."""
    priority_cost: float | None = None
    """The objective under the profit rule minus this plan's (`RunOptions.priority_cost`)."""
    row_duals: np.ndarray | None = None
    """The row duals behind ``marginal_values`` (None without them)."""
    plans_found: tuple[dict[str, float | str], ...] = ()
    """A time-limited MIP's improving plans in time order: ``seconds`` since the clock
    started, ``objective``, ``source`` (`allocator.solver.anytime.plans_found`)."""

    @property
    def status(self) -> Termination:
        """The summary's ``status``: why the solver stopped."""
        return self.termination

    @property
    def solve_seconds(self) -> float:
        """Seconds inside HiGHS: the MIP (or LP), plus the LP relaxation solved first,
        plus the priority stages before profit."""
        return sum(
            self.timings.get(phase, 0.0) for phase in ("highs", "lp_relaxation", "priority_stages")
        )


def versions() -> dict[str, str]:
    import pyomo.version

    return {"allocator": __version__, "pyomo": str(pyomo.version.version), "highs": highs_version()}
