"""Where a sweep's scenarios are solved: one after another in this process, or on Dask.

Workers are Dask distributed processes (a `LocalCluster` with one single-threaded worker
per core, or an existing cluster at ``--scheduler``); ``--workers 1`` solves in this
process. A scenario that fails is an error message beside its hash, never an exception
that stops the sweep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from allocator.data.instance import Instance
from allocator.solver.pipeline import RunOptions
from allocator.whatif.scenarios import ScenarioOutcome, solve_scenario
from allocator.whatif.spec import Scenario

if TYPE_CHECKING:
    from distributed import Client


class SchedulerError(RuntimeError):
    """The Dask scheduler at ``--scheduler`` could not be reached or used (exit 1)."""


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
