"""Errors a planner can act on: what is wrong, and where."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    """The exit codes of every command, in one place (README "Exit codes")."""

    OK = 0
    ERROR = 1
    """Anything else: an environment error (disk full, read-only, unreachable service),
    a solver failure, a plan that fails its own check."""
    INVALID = 2
    """The input is invalid: the instance, a config file, or the command line (click's
    usage errors are 2 as well). Nothing is written."""
    INFEASIBLE = 3
    """Strict mode has no plan; the conflicting constraints are named."""
    NO_PLAN = 4
    """nightly: no acceptable plan; the previous one stays published."""
    LOCKED = 75
    """nightly: another run holds the lock (EX_TEMPFAIL: try again later)."""
    INTERRUPTED = 130
    """Ctrl-C (128 + SIGINT); nothing half-written is left."""


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in the input: the file, its row (line number, header = 1) and column."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}"


class InstanceError(ValueError):
    """The instance is invalid; ``problems`` lists every problem found, not just the first."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(self.describe())

    def describe(self) -> str:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"invalid instance {self.source}: {count} {noun}"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


class InfeasibleError(RuntimeError):
    """The model has no feasible plan (strict mode); ``conflicts`` names the clashing rows."""

    def __init__(self, conflicts: Sequence[str], method: str) -> None:
        self.conflicts = tuple(conflicts)
        self.method = method
        shown = ", ".join(self.conflicts) if self.conflicts else "(none identified)"
        super().__init__(f"the model is infeasible; conflicting constraints ({method}): {shown}")


class NoPlanError(RuntimeError):
    """The solver stopped without a plan (no incumbent): nothing can be written."""

    def __init__(self, termination: str) -> None:
        self.termination = termination
        super().__init__(f"no plan: HiGHS stopped with status {termination} and no incumbent")


class PlanCheckError(RuntimeError):
    """The plan fails its independent re-check: it is not written."""

    def __init__(self, violations: Sequence[str]) -> None:
        self.violations = tuple(violations)
        super().__init__(
            "the plan fails its own check, not written:\n  " + "\n  ".join(self.violations)
        )


class PromiseInputError(ValueError):
    """A promise cannot be answered as asked (exit 2): an unknown customer or product, racks
    or a period out of range, a folder without a plan, or a plan that fails its re-check
    against the instance. The message says which, in one sentence or a short list."""
