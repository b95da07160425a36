"""The model's numbers as NumPy arrays, and the HighsLp made from them.

No Pyomo here: the marginal-value LP child (`allocator.solver.lp_beside`) imports this to
rebuild the LP that `allocator.solver.highs` compiled, `allocator.solver.resolve` updates a copy
of the arrays for a what-if variant, and `allocator.solver.promise_lp` builds the small
available-to-promise model without loading Pyomo.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np


@dataclass(frozen=True)
class ModelArrays:
    """The numbers of a compiled model as NumPy arrays: costs, column and row bounds, and
    the column-wise matrix (``a_start``, ``a_index``, ``a_value``). `allocator.solver.resolve`
    updates entries of a copy; which rows and columns exist stays the model's."""

    col_cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    a_start: np.ndarray
    a_index: np.ndarray
    a_value: np.ndarray


def highs_lp(arrays: ModelArrays, *, offset: float, maximize: bool) -> highspy.HighsLp:
    """The HighsLp of ``arrays`` (no integrality: the solve sets it)."""
    lp = highspy.HighsLp()
    lp.num_col_ = len(arrays.col_cost)
    lp.num_row_ = len(arrays.row_lower)
    lp.col_cost_ = arrays.col_cost
    lp.col_lower_ = arrays.col_lower
    lp.col_upper_ = arrays.col_upper
    lp.row_lower_ = arrays.row_lower
    lp.row_upper_ = arrays.row_upper
    lp.offset_ = offset
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = arrays.a_start
    lp.a_matrix_.index_ = arrays.a_index
    lp.a_matrix_.value_ = arrays.a_value
    return lp


_scheduler_threads: list[int] = []
"""Threads HiGHS's process-wide task scheduler was started with (empty: not started)."""


def new_highs(threads: int) -> highspy.Highs:
    """A fresh Highs for a solve with ``threads`` threads. HiGHS starts one task scheduler
    per process and refuses a later, different ``threads`` ("global scheduler has already
    been initialized"): it is reset here when the count changes."""
    if _scheduler_threads and _scheduler_threads[0] != threads:
        highspy.Highs.resetGlobalScheduler(True)
        _scheduler_threads.clear()
    if not _scheduler_threads:
        _scheduler_threads.append(threads)
    return highspy.Highs()
