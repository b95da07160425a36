"""The LP relaxation's row duals, solved in a second process while HiGHS runs the MIP.

The contract asks for the marginal values of the LP relaxation after every MIP solve: one more
LP solve, 5-25% of the MIP's own time on large generated instances. The MIP runs on one
thread (repeatable plans), so on a machine with a spare core the LP is solved beside it
in a fresh process that imports only numpy and highspy; the planner waits
for the slower of the two instead of their sum. Any failure of the side process (it
died, it could not start) returns None and the caller solves the LP itself.

This module is also the child's entry point, so it imports nothing from allocator but
`allocator.solver.arrays` (no Pyomo).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from typing import IO, Any

import numpy as np

from allocator.solver.arrays import ModelArrays, highs_lp


def spare_core(threads: int) -> bool:
    """True when this process may use one more core than the MIP's ``threads``."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        available = os.cpu_count() or 1
    return available > threads


class DualsBeside:
    """A running LP relaxation in a child process; `result` waits for its row duals.

    The child is ``python -m allocator.solver.lp_beside`` with the LP pickled on its stdin and
    the duals pickled on its stdout (not `multiprocessing`, whose ``spawn`` re-imports
    the caller's main module)."""

    def __init__(
        self, arrays: ModelArrays, offset: float, maximize: bool, options: dict[str, Any]
    ) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "allocator.solver.lp_beside"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        stdin = self._process.stdin
        assert stdin is not None
        try:
            task = (arrays, offset, maximize, options)
            pickle.dump(task, stdin, protocol=pickle.HIGHEST_PROTOCOL)
            stdin.close()
        except OSError:  # the child died at once
            self.cancel()
            raise

    def result(self) -> tuple[bool, np.ndarray | None]:
        """Wait for the child: (finished, row duals). ``finished`` is False when the child
        died without an answer (solve the LP here instead); the duals are None when the
        LP was not solved to optimality (no marginal values either way)."""
        stdout = self._process.stdout
        assert stdout is not None
        try:
            duals: np.ndarray | None = pickle.load(stdout)
            finished = True
        except (EOFError, OSError, pickle.UnpicklingError):  # died before answering
            duals, finished = None, False
        finally:
            stdout.close()
            self._process.wait()
        return finished, duals

    def cancel(self) -> None:
        """Stop the child if it still runs (the MIP gave no plan, or failed); a no-op
        after `result`."""
        self._process.kill()
        self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()


def _child(
    arrays: ModelArrays,
    offset: float,
    maximize: bool,
    options: dict[str, Any],
    answer: IO[bytes],
) -> None:
    """Solve the LP and write its row duals (None unless optimal)."""
    import highspy

    highs = highspy.Highs()
    for name, value in options.items():
        highs.setOptionValue(name, value)
    highs.passModel(highs_lp(arrays, offset=offset, maximize=maximize))
    highs.run()
    duals = None
    if highs.getModelStatus() == highspy.HighsModelStatus.kOptimal:
        duals = np.asarray(highs.getSolution().row_dual, dtype=float)
    pickle.dump(duals, answer, protocol=pickle.HIGHEST_PROTOCOL)
    answer.flush()


if __name__ == "__main__":
    lp_arrays, lp_offset, lp_maximize, highs_options = pickle.load(sys.stdin.buffer)
    _child(lp_arrays, lp_offset, lp_maximize, highs_options, sys.stdout.buffer)
