"""HiGHS in a child process that streams its incumbents and can be killed at a deadline.

HiGHS 1.15.1 checks its time limit and its interrupt callback only between steps, not
inside the root node's heuristics (line-search rounding, RENS sub-MIPs): a 60 s limit
ended after 139 s on a 197k-column model, a 5 s one on base-2027 with every max_delay 24
after more than 40 s. A process can be stopped whatever it is doing, so a time-limited
solve runs HiGHS here: ``python -m allocator.solver.child`` (not `multiprocessing`,
whose ``spawn`` re-imports the caller's main module), the `ChildTask` pickled on its
stdin, messages pickled on a pipe of their own (its stdout stays the console for
HiGHS's log):

* ``("incumbent", objective, bound, seconds, values)`` for every improving MIP solution
  (HiGHS's ``kCallbackMipImprovingSolution``, the MIP start included);
* ``("bound", bound, seconds)`` when the dual bound moved (``kCallbackMipInterrupt`` and
  ``kCallbackMipLogging``, at most every `BOUND_EVERY` seconds);
* ``("done", ChildOutcome)``: what HiGHS returned, read exactly as an in-process run
  reads it (`allocator.solver.highs.solve_compiled`): the same arrays, options and start
  give the same plan;
* ``("lp", ChildOutcome)`` with ``ChildTask.lp_after``: the LP relaxation solved after
  the MIP (marginal values and the anytime plan, where no second process solves it).

`HighsChild` is the parent's side: a thread reads the messages, `wait` returns at the
final answer or the deadline, `kill` ends the child. The child dies with its parent
(``PR_SET_PDEATHSIG``) and ignores Ctrl-C (the parent stops it). This module imports
nothing from allocator but `allocator.solver.arrays` (no Pyomo): the child starts in
about 0.3 s.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from allocator.solver.arrays import ModelArrays, highs_lp

BOUND_EVERY = 0.5
"""Seconds between two bound messages."""
STALL_ENVIRONMENT = "ALLOCATOR_TEST_STALL_CHILD"
"""Tests only: ``N:SECONDS`` makes the child sleep SECONDS in HiGHS's callback after
sending its N-th improving incumbent (a HiGHS stuck where it checks no limit, made
deterministic)."""


@dataclass(frozen=True)
class ChildTask:
    """What the child solves: the arrays, integrality and the start (both None: the LP
    relaxation), HiGHS's options, whether to return row duals, and ``lp_after`` (seconds
    after the child started by which an LP relaxation solved after the MIP must end;
    None: none)."""

    arrays: ModelArrays
    offset: float
    maximize: bool
    integer: np.ndarray | None
    start: np.ndarray | None
    options: dict[str, Any]
    duals: bool = False
    lp_after: float | None = None
    known_objective: float | None = None
    """A plan of this objective is known outside HiGHS: stop once the bound is within
    ``mip_rel_gap`` of it (`stop_near`)."""


@dataclass(frozen=True)
class ChildOutcome:
    """A finished HiGHS run as HiGHS reports it (``model_status`` as its integer)."""

    model_status: int
    status_text: str
    has_solution: bool
    values: np.ndarray | None
    objective: float
    bound: float
    gap: float
    seconds: float
    row_duals: np.ndarray | None


@dataclass(frozen=True)
class Incumbent:
    """The best MIP solution streamed so far."""

    objective: float
    bound: float
    seconds: float
    values: np.ndarray


class HighsChild:
    """A running child (see the module docstring). Raises OSError when it cannot start."""

    def __init__(self, task: ChildTask) -> None:
        read_end, write_end = os.pipe()
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "allocator.solver.child",
                    str(write_end),
                    str(os.getpid()),
                ],
                stdin=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                pass_fds=(write_end,),
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self._messages = os.fdopen(read_end, "rb")
        self._changed = threading.Condition()
        self.incumbent: Incumbent | None = None
        self.arrivals: list[tuple[float, float]] = []
        """Every incumbent streamed, in order: when it arrived (`time.monotonic`) and its
        objective."""
        self.bound: float | None = None
        self.final: ChildOutcome | None = None
        self.lp: ChildOutcome | None = None
        self.ended = False
        """The message pipe closed: the child finished, died or was killed."""
        self._reader = threading.Thread(target=self._read, name="highs-child", daemon=True)
        self._reader.start()
        stdin = self._process.stdin
        assert stdin is not None
        try:
            pickle.dump(task, stdin, protocol=pickle.HIGHEST_PROTOCOL)
            stdin.close()
        except OSError:  # the child died at once; `ended` says so
            self.kill()

    def _read(self) -> None:
        try:
            while True:
                message = pickle.load(self._messages)
                with self._changed:
                    self._take(message)
                    self._changed.notify_all()
        except (EOFError, OSError, pickle.UnpicklingError, ValueError):
            pass
        finally:
            with self._changed:
                self.ended = True
                self._changed.notify_all()

    def _take(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "incumbent":
            _, objective, bound, seconds, values = message
            self.incumbent = Incumbent(objective, bound, seconds, values)
            self.arrivals.append((time.monotonic(), objective))
            self.bound = bound
        elif kind == "bound":
            self.bound = message[1]
        elif kind == "done":
            self.final = message[1]
        elif kind == "lp":
            self.lp = message[1]

    def wait(self, until: float, *, lp: bool = False) -> bool:
        """Wait until the final answer (with ``lp``: the LP after it) has come, the
        child ended, or `time.monotonic` reaches ``until``; whether the answer came."""
        with self._changed:
            while not self.ended and (self.final is None or (lp and self.lp is None)):
                left = until - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(None if math.isinf(left) else left)
            return self.final is not None and (not lp or self.lp is not None)

    @property
    def exit_code(self) -> int | None:
        """The child's exit code once it has ended (negative: the signal that ended it)."""
        return self._process.poll()

    def kill(self) -> None:
        """End the child if it still runs; everything received so far is kept."""
        with contextlib.suppress(OSError):
            self._process.kill()
        self._process.wait()
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        self._reader.join(timeout=5)
        with contextlib.suppress(OSError):
            self._messages.close()


def _send(answer: IO[bytes], lock: threading.Lock, message: tuple[Any, ...]) -> None:
    with lock:
        pickle.dump(message, answer, protocol=pickle.HIGHEST_PROTOCOL)
        answer.flush()


def read_outcome(highs: Any, seconds: float, duals: bool) -> ChildOutcome:
    """What `allocator.solver.highs.solve_compiled` reads from a finished run."""
    info = highs.getInfo()
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    solution = highs.getSolution() if has_solution else None
    model_status = highs.getModelStatus()
    return ChildOutcome(
        model_status=int(model_status),
        status_text=highs.modelStatusToString(model_status),
        has_solution=has_solution,
        values=None if solution is None else np.asarray(solution.col_value, dtype=float),
        objective=float(info.objective_function_value),
        bound=float(info.mip_dual_bound),
        gap=float(info.mip_gap),
        seconds=seconds,
        row_duals=(
            np.asarray(solution.row_dual, dtype=float) if duals and solution is not None else None
        ),
    )


def _highs(task: ChildTask, integer: bool, options: dict[str, Any]) -> Any:
    """A Highs with the task's model, as `allocator.solver.highs._make_highs` makes it."""
    import highspy

    highs = highspy.Highs()
    for name, value in options.items():
        highs.setOptionValue(name, value)
    lp = highs_lp(task.arrays, offset=task.offset, maximize=task.maximize)
    if integer and task.integer is not None and task.integer.any():
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
            for flag in task.integer
        ]
    highs.passModel(lp)
    if integer and task.start is not None:
        start = highspy.HighsSolution()
        start.col_value = task.start
        start.value_valid = True
        highs.setSolution(start)
    return highs


def stop_near(highs: Any, known: float, gap: float) -> None:
    """Interrupt a MIP once its dual bound is within ``gap`` of ``known``, the objective of
    a plan found outside HiGHS and not given to it (|bound - known| <= gap |known|, as
    HiGHS measures its gap): that plan is then proven within the gap."""

    def interrupt(event: Any) -> None:
        if abs(float(event.data_out.mip_dual_bound) - known) <= gap * abs(known):
            event.data_in.user_interrupt = True

    highs.cbMipInterrupt.subscribe(interrupt)


def _stream(highs: Any, answer: IO[bytes], lock: threading.Lock, started: float) -> None:
    """Send every improving incumbent, and the bound when it moves."""
    stall_after, _, stall = os.environ.get(STALL_ENVIRONMENT, "").partition(":")
    sent_bound = math.nan
    sent_at = 0.0
    count = 0

    def improving(event: Any) -> None:
        nonlocal sent_bound, count
        count += 1
        out = event.data_out
        seconds = time.perf_counter() - started
        values = np.array(out.mip_solution, dtype=float)
        sent_bound = float(out.mip_dual_bound)
        objective = float(out.objective_function_value)
        _send(answer, lock, ("incumbent", objective, sent_bound, seconds, values))
        if stall and count == int(stall_after):
            time.sleep(float(stall))

    def interrupt(event: Any) -> None:
        nonlocal sent_bound, sent_at
        bound = float(event.data_out.mip_dual_bound)
        now = time.perf_counter()
        if bound != sent_bound and now - sent_at >= BOUND_EVERY:
            _send(answer, lock, ("bound", bound, now - started))
            sent_bound, sent_at = bound, now

    highs.cbMipImprovingSolution.subscribe(improving)
    highs.cbMipInterrupt.subscribe(interrupt)
    highs.cbMipLogging.subscribe(interrupt)


def _child(task: ChildTask, answer: IO[bytes]) -> None:
    """Solve the task, streaming as the module docstring says."""
    started = time.perf_counter()
    lock = threading.Lock()
    is_mip = task.integer is not None and bool(task.integer.any())
    options = task.options
    if is_mip and not options.get("output_flag"):
        # HiGHS calls the MIP logging callback (the bound of each log line) only with
        # output on; off the console and without a file nothing is written, and the
        # search is the same (incumbents, plan, bound and nodes equal on base-2027 at
        # gap 1e-4 and 0, 3384 nodes, and a generated 12-region instance)
        options = {**options, "output_flag": True, "log_to_console": False}
    highs = _highs(task, True, options)
    if is_mip:
        _stream(highs, answer, lock, started)
        if task.known_objective is not None:
            stop_near(highs, task.known_objective, float(options["mip_rel_gap"]))
    begun = time.perf_counter()
    highs.run()
    _send(answer, lock, ("done", read_outcome(highs, time.perf_counter() - begun, task.duals)))
    if task.lp_after is not None and is_mip:
        options = dict(task.options)
        options["time_limit"] = max(task.lp_after - (time.perf_counter() - started), 0.01)
        relaxation = _highs(task, False, options)
        begun = time.perf_counter()
        relaxation.run()
        _send(answer, lock, ("lp", read_outcome(relaxation, time.perf_counter() - begun, True)))


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies (Linux), and ignore Ctrl-C: the parent
    stops the child itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


def main(arguments: list[str]) -> None:
    """The child's entry point: ``MESSAGE_FD PARENT_PID``, the task on stdin."""
    _die_with_parent(int(arguments[1]))
    task: ChildTask = pickle.load(sys.stdin.buffer)
    with os.fdopen(int(arguments[0]), "wb") as messages:
        _child(task, messages)


if __name__ == "__main__":
    # run from the imported module, not __main__: what it pickles must unpickle as
    # allocator.solver.child's classes in the parent
    from allocator.solver import child

    child.main(sys.argv[1:])
