"""The LP relaxation solved in a second process while HiGHS runs the MIP.

The contract asks for the marginal values of the LP relaxation after every MIP solve: one more
LP solve, 5-25% of the MIP's own time on large generated instances. The MIP runs on one
thread (repeatable plans), so on a machine with a spare core the LP is solved beside it
in a fresh process (`allocator.solver.child`, which imports only numpy and highspy); the
planner waits for the slower of the two instead of their sum. Its column values and
objective are also the LP bound and the start of the anytime plan of a time-limited solve
(`allocator.solver.anytime`). Any failure of the side process (it died, it could not
start) returns no answer and the caller solves the LP itself.
"""

from __future__ import annotations

import math
import os

import numpy as np

from allocator.solver.child import ChildOutcome, ChildTask, HighsChild

OPTIMAL = 7
"""HiGHS's ``kOptimal`` model status (this module does not import highspy)."""


def spare_core(threads: int) -> bool:
    """True when this process may use one more core than the MIP's ``threads``."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        available = os.cpu_count() or 1
    return available > threads


class DualsBeside:
    """A running LP relaxation in a child process; `result` waits for its row duals."""

    def __init__(self, task: ChildTask) -> None:
        self._child = HighsChild(task)

    @property
    def answer(self) -> ChildOutcome | None:
        """HiGHS's answer if it has come (no waiting)."""
        return self._child.final

    def relaxation(self, until: float = math.inf) -> ChildOutcome | None:
        """Wait for the LP until `time.monotonic` reaches ``until``: HiGHS's answer, or
        None when the child died or the time came first."""
        self._child.wait(until)
        return self._child.final

    def result(self, until: float = math.inf) -> tuple[bool, np.ndarray | None]:
        """Wait for the child: (finished, row duals). ``finished`` is False when the child
        died without an answer or ``until`` came first (solve the LP here instead); the
        duals are None when the LP was not solved to optimality (no marginal values
        either way)."""
        answer = self.relaxation(until)
        if answer is None:
            return False, None
        return True, answer.row_duals if answer.model_status == OPTIMAL else None

    def cancel(self) -> None:
        """Stop the child if it still runs (the MIP gave no plan, or failed); what it
        answered stays readable."""
        self._child.kill()
