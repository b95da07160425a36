"""Hand the compiled model to HiGHS and get a typed outcome back.

The only module that names HiGHS's solver API.

The model is compiled in memory into sparse arrays (`allocator.solver.compile`, equal to
Pyomo's standard-form compiler) and passed to highspy in one call; no file is written
in a normal solve. Working on the arrays directly gives full control of what the Pyomo
solver wrappers get in the way of: the incumbent of a
time-limited MIP is kept (not raised on), threads and the random seed are always set,
the LP relaxation for marginal values is the same arrays with integrality dropped, and
HiGHS's IIS is available for an infeasible strict model.
"""

from __future__ import annotations

import enum
import functools
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import highspy
import numpy as np
import pyomo.core as pyo
from pyomo.common.errors import InfeasibleConstraintException

from allocator.atomic import write_file
from allocator.errors import InfeasibleError
from allocator.limits import DEFAULT_SEED
from allocator.solver.arrays import ModelArrays, highs_lp, new_highs
from allocator.solver.child import ChildOutcome, ChildTask, read_outcome, stop_near
from allocator.solver.compile import Names, compile_arrays
from allocator.solver.lp_beside import DualsBeside, spare_core

IIS_ELASTIC_TRUE = 2 + 8
"""HiGHS ``iis_strategy``: elastic LP (2), reduced to a true IIS (8). The default light
test finds nothing on many infeasible models."""


class Termination(enum.StrEnum):
    """Why the solver stopped (the summary's ``status``), kept apart from whether it
    found a plan (`Solution`): a MIP stopped by its time limit usually has one."""

    OPTIMAL = "optimal"
    """Proven optimal within the requested gap."""
    TIME_LIMIT = "time_limit"
    ITERATION_LIMIT = "iteration_limit"
    SOLUTION_LIMIT = "solution_limit"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    """HiGHS's presolve proved one of the two without telling which."""
    INTERRUPTED = "interrupted"
    ERROR = "error"

    @property
    def is_infeasible(self) -> bool:
        """No plan can exist (this model is never unbounded: every variable is bounded
        by the supply)."""
        return self in (Termination.INFEASIBLE, Termination.INFEASIBLE_OR_UNBOUNDED)


class Solution(enum.StrEnum):
    """Whether the solver returned a plan, and how good it is known to be."""

    OPTIMAL = "optimal"
    """A plan proven optimal within the requested gap."""
    FEASIBLE = "feasible"
    """A plan (an incumbent), with its gap to the best bound."""
    NONE = "none"
    """No plan."""


ROOT_REDUCED_COST_HEURISTIC = False
"""HiGHS's root reduced-cost heuristic, off: on a generated 197k-column instance it ran
domain propagation for over 20 minutes past a 600 s time limit (seen with py-spy in
``HighsPrimalHeuristics::rootReducedCost``), and without it base-2027 solved in 3.4 s
instead of 5.9 s and a 16k-column instance in 41 s instead of 85 s (loaded machine)."""


@dataclass(frozen=True)
class SolverOptions:
    """What a planner sets: ``mip_gap`` 0 proves optimality; ``threads`` 1 by default
    so that runs are repeatable; ``time_limit`` None means no limit."""

    time_limit: float | None = None
    mip_gap: float = 1e-4
    threads: int = 1
    seed: int = DEFAULT_SEED
    log: bool = False
    log_file: str | None = None
    """Also append HiGHS's log to this file (``log`` still decides the console)."""
    max_nodes: int | None = None
    """Stop a MIP after this many branch-and-bound nodes (None: no limit). Not a
    planner's option: the priority stages use it for a bounded first attempt."""

    def highs_options(self) -> dict[str, bool | int | float | str]:
        options: dict[str, bool | int | float | str] = {
            "mip_rel_gap": float(self.mip_gap),
            "threads": int(self.threads),
            "random_seed": int(self.seed),
            "output_flag": bool(self.log or self.log_file),
            "log_to_console": bool(self.log),
            "mip_heuristic_run_root_reduced_cost": ROOT_REDUCED_COST_HEURISTIC,
        }
        if self.log_file:
            options["log_file"] = self.log_file
        if self.time_limit is not None:
            options["time_limit"] = float(self.time_limit)
        if self.max_nodes is not None:
            options["mip_max_nodes"] = int(self.max_nodes)
        return options


@dataclass
class CompiledModel:
    """The model as arrays, with the names of its rows and columns (no Pyomo objects:
    the Pyomo model can be freed once this exists)."""

    lp: highspy.HighsLp
    names: Names
    is_integer: np.ndarray
    objective_offset: float
    compile_seconds: float
    start: np.ndarray | None = None
    """A feasible solution to start HiGHS from (the variables' Pyomo values), if complete."""
    stage_costs: tuple[np.ndarray, ...] = ()
    """The lexicographic rule's stage objectives before profit, in the order solved, as
    cost vectors over the columns (`allocator.model.priority`); empty under profit."""
    stage_offsets: tuple[float, ...] = ()
    """Each stage objective's constant: its fixed variables' part (a nightly run's frozen
    racks), which a hold row must leave out."""

    @functools.cached_property
    def row_names(self) -> list[str]:
        """Each row's constraint name, e.g. ``internal_fill[aws-us-east-1]`` (made when
        first asked for: ~5 us a name)."""
        return [self.names.row_name(row) for row in range(len(self.names.row_index))]

    @functools.cached_property
    def column_names(self) -> list[str]:
        """Each column's variable name, e.g. ``ship_racks[o000001,3]``."""
        return [self.names.column_name(column) for column in range(self.lp.num_col_)]


@dataclass(kw_only=True)
class SolveOutcome:
    """A solver run: why it stopped, whether it has a plan (``values`` is None when no
    incumbent exists), and the figures HiGHS reports."""

    termination: Termination
    solution: Solution
    values: np.ndarray | None
    objective: float | None
    best_bound: float | None
    mip_gap: float | None
    solve_seconds: float
    highs_status: str
    row_duals: np.ndarray | None = None


def highs_version() -> str:
    return f"{highspy.Highs().version()}"


def compile_model(model: pyo.ConcreteModel) -> CompiledModel:
    """Pyomo model -> HighsLp: sparse column-wise A, row bounds, column bounds, integrality
    (`allocator.solver.compile`, the same arrays as Pyomo's standard-form compiler)."""
    started = time.perf_counter()
    try:
        compiled = compile_arrays(model)
    except InfeasibleConstraintException as error:
        # A row with no variables whose bound fails, e.g. a strict internal fill no
        # order can ship to: infeasible before any solve.
        match = re.search(r"'(.+)'", str(error))
        raise InfeasibleError(
            [match.group(1) if match else str(error)], "a constraint with no variables"
        ) from error
    columns = compiled.columns
    is_integer = np.fromiter((var.is_integer() for var in columns), bool, len(columns))
    lp = highs_lp(compiled.arrays, offset=compiled.offset, maximize=compiled.maximize)
    return CompiledModel(
        lp,
        compiled.names,
        is_integer,
        lp.offset_,
        time.perf_counter() - started,
        read_start(columns),
        *_stage_costs(model, columns),
    )


def _stage_costs(
    model: pyo.ConcreteModel, columns: list[pyo.Var]
) -> tuple[tuple[np.ndarray, ...], tuple[float, ...]]:
    """The deactivated stage objectives ``priority_stage`` (linear expressions of the
    model's variables) as cost vectors over ``columns`` and constants (the part of the
    fixed variables, which are no column), in their order."""
    stages = model.component("priority_stage")
    if stages is None or not len(stages):
        return (), ()
    column_of = {id(var): column for column, var in enumerate(columns)}
    costs, offsets = [], []
    for objective in stages.values():
        cost = np.zeros(len(columns))
        offset = 0.0
        expression = objective.expr
        terms = zip(
            getattr(expression, "linear_coefs", ()),
            getattr(expression, "linear_vars", ()),
            strict=True,
        )  # a stage over no column (a tier whose windows are all empty) is the constant 0
        for coef, var in terms:
            if var.fixed:
                offset += coef * float(var.value)
            else:
                cost[column_of[id(var)]] += coef
        costs.append(cost)
        offsets.append(offset)
    return tuple(costs), tuple(offsets)


LP_BESIDE_MIN_COLUMNS = 50_000
"""Smallest model whose LP relaxation is solved beside the MIP: below it the LP takes
less than starting the child (~0.6 s: base-2027's LP 0.08 s, a 16k-column one 0.2-1 s)."""


def read_start(columns: list[pyo.Var]) -> np.ndarray | None:
    """The columns' current Pyomo values as a start vector; None if any is unset."""
    values = [var.value for var in columns]
    return None if None in values else np.asarray(values, dtype=float)


def start_objective(compiled: CompiledModel, start: np.ndarray) -> float:
    """The model objective of a start vector."""
    return float(np.dot(np.asarray(compiled.lp.col_cost_), start)) + compiled.objective_offset


def _maximizes(lp: highspy.HighsLp) -> bool:
    return bool(lp.sense_ == highspy.ObjSense.kMaximize)


def maximizes(compiled: CompiledModel) -> bool:
    """Whether the model's objective is maximized."""
    return _maximizes(compiled.lp)


def model_arrays(compiled: CompiledModel) -> ModelArrays:
    """The arrays of ``compiled`` (copies: changing them leaves ``compiled`` as it is)."""
    lp, matrix = compiled.lp, compiled.lp.a_matrix_
    return ModelArrays(
        np.array(lp.col_cost_, dtype=float),
        np.array(lp.col_lower_, dtype=float),
        np.array(lp.col_upper_, dtype=float),
        np.array(lp.row_lower_, dtype=float),
        np.array(lp.row_upper_, dtype=float),
        np.array(matrix.start_, dtype=np.int64),
        np.array(matrix.index_, dtype=np.int64),
        np.array(matrix.value_, dtype=float),
    )


def with_arrays(
    compiled: CompiledModel, arrays: ModelArrays, start: np.ndarray | None
) -> CompiledModel:
    """A new `CompiledModel` like ``compiled`` (same rows, columns, integrality, sense
    and offset) but with ``arrays`` and the MIP ``start``; ``compiled`` is not changed."""
    started = time.perf_counter()
    base = compiled.lp
    lp = highs_lp(arrays, offset=base.offset_, maximize=_maximizes(base))
    return CompiledModel(
        lp,
        compiled.names,
        compiled.is_integer,
        compiled.objective_offset,
        time.perf_counter() - started,
        start,
        compiled.stage_costs,
        compiled.stage_offsets,
    )


def _make_highs(compiled: CompiledModel, options: SolverOptions, integer: bool) -> highspy.Highs:
    highs = new_highs(options.threads)
    for name, value in options.highs_options().items():
        highs.setOptionValue(name, value)
    lp = compiled.lp
    if integer and compiled.is_integer.any():
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
            for flag in compiled.is_integer
        ]
    else:
        lp.integrality_ = []
    highs.passModel(lp)
    if integer and compiled.start is not None:
        start = highspy.HighsSolution()
        start.col_value = compiled.start
        start.value_valid = True
        highs.setSolution(start)
    return highs


_TERMINATION = {
    highspy.HighsModelStatus.kOptimal: Termination.OPTIMAL,
    highspy.HighsModelStatus.kTimeLimit: Termination.TIME_LIMIT,
    highspy.HighsModelStatus.kIterationLimit: Termination.ITERATION_LIMIT,
    highspy.HighsModelStatus.kSolutionLimit: Termination.SOLUTION_LIMIT,
    highspy.HighsModelStatus.kInfeasible: Termination.INFEASIBLE,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: Termination.INFEASIBLE_OR_UNBOUNDED,
    highspy.HighsModelStatus.kUnbounded: Termination.UNBOUNDED,
    highspy.HighsModelStatus.kInterrupt: Termination.INTERRUPTED,
}
"""HiGHS's model status -> why it stopped; anything else (load, model or solve errors)
is `Termination.ERROR`."""


def solve_compiled(
    compiled: CompiledModel,
    options: SolverOptions,
    *,
    integer: bool = True,
    duals: bool = False,
    before_run: Callable[[], None] | None = None,
    known_objective: float | None = None,
) -> SolveOutcome:
    """Run HiGHS in this process. A time-limited MIP with an incumbent returns it with its
    gap. ``before_run`` is called just before HiGHS starts (which releases the GIL).
    ``known_objective``: a plan outside HiGHS reaches it; HiGHS is interrupted once its
    bound is within the gap of it (`allocator.solver.child.stop_near`)."""
    highs = _make_highs(compiled, options, integer)
    if known_objective is not None and integer:
        stop_near(highs, known_objective, options.mip_gap)
    if before_run is not None:
        before_run()
    started = time.perf_counter()
    highs.run()
    raw = read_outcome(highs, time.perf_counter() - started, duals)
    return outcome_of(raw, is_mip=integer and bool(compiled.is_integer.any()), duals=duals)


def solve_in_bounds(
    compiled: CompiledModel, options: SolverOptions, lower: np.ndarray, upper: np.ndarray
) -> SolveOutcome:
    """The MIP with its column bounds replaced by ``lower`` and ``upper`` (a sub-MIP, e.g.
    `allocator.solver.neighbourhood`), from ``compiled.start``, in this process."""
    highs = _make_highs(compiled, options, True)
    columns = np.arange(compiled.lp.num_col_, dtype=np.int32)
    highs.changeColsBounds(len(columns), columns, lower, upper)
    started = time.perf_counter()
    highs.run()
    raw = read_outcome(highs, time.perf_counter() - started, False)
    return outcome_of(raw, is_mip=True, duals=False)


def outcome_of(raw: ChildOutcome, *, is_mip: bool, duals: bool) -> SolveOutcome:
    """The typed outcome of a finished HiGHS run, read in this process or in a child
    (`allocator.solver.child`): the same run gives the same outcome either way."""
    termination = _TERMINATION.get(highspy.HighsModelStatus(raw.model_status), Termination.ERROR)
    values = objective = bound = gap = None
    if raw.has_solution and not termination.is_infeasible and termination != Termination.UNBOUNDED:
        values = raw.values
        objective = raw.objective
        if is_mip:
            bound, gap = raw.bound, raw.gap
        else:
            bound, gap = objective, 0.0
    row_duals = None
    if duals and values is not None and not is_mip and termination == Termination.OPTIMAL:
        row_duals = raw.row_duals
    if values is None:
        found = Solution.NONE
    else:
        found = Solution.OPTIMAL if termination == Termination.OPTIMAL else Solution.FEASIBLE
    return SolveOutcome(
        termination=termination,
        solution=found,
        values=values,
        objective=objective,
        best_bound=bound,
        mip_gap=gap,
        solve_seconds=raw.seconds,
        highs_status=raw.status_text,
        row_duals=row_duals,
    )


def child_task(
    compiled: CompiledModel,
    options: SolverOptions,
    *,
    integer: bool = True,
    duals: bool = False,
    lp_after: float | None = None,
    known_objective: float | None = None,
) -> ChildTask:
    """What `solve_compiled` would solve, for a child process (`allocator.solver.child`):
    the same arrays, integrality, start and options."""
    lp = compiled.lp
    return ChildTask(
        arrays=model_arrays(compiled),
        offset=lp.offset_,
        maximize=_maximizes(lp),
        integer=compiled.is_integer if integer else None,
        start=compiled.start if integer else None,
        options=options.highs_options(),
        duals=duals,
        lp_after=lp_after,
        known_objective=known_objective,
    )


def lp_duals(compiled: CompiledModel, options: SolverOptions) -> np.ndarray | None:
    """Row duals of the LP relaxation: d objective / d right-hand side of each row."""
    outcome = solve_compiled(compiled, options, integer=False, duals=True)
    return outcome.row_duals


def start_lp_duals_beside(
    compiled: CompiledModel, options: SolverOptions, *, any_size: bool = False
) -> DualsBeside | None:
    """Start the LP relaxation of `lp_duals` in a second process (`allocator.solver.lp_beside`),
    with the same HiGHS options but no log; None when no core is spare or the model is
    too small for the ~0.6 s of starting the child to pay (``any_size``: whatever its
    size, for a time-limited solve, whose LP must be stoppable)."""
    small = compiled.lp.num_col_ < LP_BESIDE_MIN_COLUMNS and not any_size
    if small or not spare_core(options.threads):
        return None
    quiet = SolverOptions(options.time_limit, options.mip_gap, options.threads, options.seed)
    try:
        return DualsBeside(child_task(compiled, quiet, integer=False, duals=True))
    except OSError:  # no process could be started: the caller solves the LP itself
        return None


def irreducible_conflict(compiled: CompiledModel, options: SolverOptions) -> list[str] | None:
    """Names of the rows (and variable bounds) of an irreducible infeasible subsystem of
    the LP relaxation, from HiGHS's elastic-LP IIS; None when the LP relaxation is
    feasible (then integrality causes the conflict)."""
    highs = _make_highs(compiled, options, integer=False)
    highs.setOptionValue("output_flag", False)
    highs.run()
    if highs.getModelStatus() not in (
        highspy.HighsModelStatus.kInfeasible,
        highspy.HighsModelStatus.kUnboundedOrInfeasible,
    ):
        return None
    highs.setOptionValue("iis_strategy", IIS_ELASTIC_TRUE)
    status, iis = highs.getIis()
    if status == highspy.HighsStatus.kError or not iis.valid_:
        return []
    names = [compiled.row_names[row] for row in iis.row_index_]
    names += [f"bounds of {compiled.names.column_name(col)}" for col in iis.col_index_]
    return list(dict.fromkeys(names))


def write_model_file(compiled: CompiledModel, path: Path, *, integer: bool = True) -> None:
    """Export the model as ``.mps`` or ``.lp`` (by suffix), atomically."""
    highs = _make_highs(compiled, SolverOptions(), integer)
    for index in range(compiled.lp.num_col_):
        highs.passColName(index, _safe_name(compiled.names.column_name(index)))
    for index, name in enumerate(compiled.row_names):
        highs.passRowName(index, _safe_name(f"{name}#{index}"))

    def write(temporary: Path) -> None:
        # HiGHS picks the format by the suffix: give the temporary the target's
        target = temporary.with_name(temporary.name + path.suffix)
        try:
            if highs.writeModel(str(target)) == highspy.HighsStatus.kError:
                raise OSError(f"HiGHS could not write {path}")
            os.replace(target, temporary)
        finally:
            target.unlink(missing_ok=True)

    write_file(path, write)


def _safe_name(name: str) -> str:
    """Row/column names without the characters MPS and LP files cannot hold."""
    return "".join(char if char.isalnum() or char in "_[],.#-" else "_" for char in name)
