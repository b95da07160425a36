"""Where a two-stage plan's solves run: in this process one after the other, or on Dask.

`executor` gives a ``submit`` (a job, its task and arguments) and a ``completed`` that
yields each job's outcome as it finishes, also of jobs submitted meanwhile; it can be
called again for the next batch. On Dask (`allocator.whatif.executors.dask_client`: a
local cluster or a team's) the base instance is sent to the workers once, the
recourse problem is submitted with priority, and no worker starts a second process for
the marginal-value LP. `Budget` shares a time limit among the solves of one command.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from allocator.data.instance import Instance
from allocator.solver.deadline import GRACE_SECONDS, GRACE_SHARE
from allocator.solver.pipeline import RunOptions
from allocator.stochastic.jobs import RECOURSE, Job, JobOutcome, quiet

MIN_SOLVE_SECONDS = 0.5
"""A solve is given at least this much of a time limit."""

Submit = Callable[..., None]


class Budget:
    """The time limit shared by every solve of the command (None: no limit)."""

    def __init__(self, limit: float | None, slots: int) -> None:
        self.limit = limit
        self.started = time.time()
        self.slots = max(1, slots)

    @property
    def ends_by(self) -> float | None:
        if self.limit is None:
            return None
        return self.started + self.limit + max(GRACE_SECONDS, GRACE_SHARE * self.limit) / 2

    @property
    def spent(self) -> bool:
        """Whether the time limit has run out (never without one)."""
        return self.limit is not None and time.time() >= self.started + self.limit

    def share(self, weight: float, weights_left: float) -> float | None:
        """A solve's limit: its part of the time left, side-by-side solves sharing by
        the number of workers."""
        if self.limit is None:
            return None
        left = self.started + self.limit - time.time()
        rounds = max(weights_left / self.slots, weight, 1.0)
        return max(left * weight / rounds, MIN_SOLVE_SECONDS)


@contextmanager
def executor(
    base: Instance, workers: int, scheduler: str | None, jobs: int
) -> Iterator[tuple[Submit, Callable[[], Iterator[JobOutcome]], int]]:
    """(submit, completed, slots): in this process one after the other (``workers``
    1, no scheduler), or on Dask. ``completed`` yields each job's outcome as it finishes,
    including jobs submitted while it runs."""
    if scheduler is None and workers <= 1:
        queue: list[tuple[Job, Callable[..., JobOutcome], tuple[Any, ...]]] = []

        def submit_here(job: Job, task: Callable[..., JobOutcome], *args: Any) -> None:
            queue.append((job, task, args))

        def run_here() -> Iterator[JobOutcome]:
            while queue:
                job, task, args = queue.pop(0)
                yield task(job, *args)

        yield submit_here, run_here, 1
        return
    from distributed import as_completed

    from allocator.whatif.executors import dask_client

    with dask_client(max(1, min(workers, jobs)), scheduler) as client:
        base_future = client.scatter(base, broadcast=True, hash=False)
        futures: dict[Any, Job] = {}
        batch: dict[str, Any] = {"finished": as_completed()}

        def submit_dask(job: Job, task: Callable[..., JobOutcome], *args: Any) -> None:
            args = tuple(base_future if arg is base else arg for arg in args)
            args = tuple(quiet(arg) if isinstance(arg, RunOptions) else arg for arg in args)
            future = client.submit(
                task,
                job,
                *args,
                key=f"allocator-stochastic-{job.kind}-{job.key[:16]}",
                priority=10 if job.kind == RECOURSE else 0,
                pure=False,
            )
            futures[future] = job
            batch["finished"].add(future)

        def run_dask() -> Iterator[JobOutcome]:
            for future in batch["finished"]:
                job = futures.pop(future)
                try:
                    outcome = future.result()
                except Exception as error:  # the worker was lost
                    outcome = JobOutcome(job, error=f"{type(error).__name__}: {error}")
                future.release()
                yield outcome
            batch["finished"] = as_completed()  # the next batch

        slots = max(1, sum(client.nthreads().values()))
        try:
            yield submit_dask, run_dask, slots
        finally:
            client.cancel(list(futures), force=True)
