"""A time limit that holds: when a solve started, stops HiGHS and ends (`Deadline`).

And a cap on every solve of a command that holds one limit as a whole (`ending_by`).
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass

GRACE_SECONDS = 5.0
GRACE_SHARE = 0.05
"""The solve phase of a time limit T ends by T + max(GRACE_SECONDS, GRACE_SHARE * T)."""

_ENDS_BY: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "allocator_solves_end_by", default=None
)
"""Wall-clock time (`time.time`) by which every time-limited solve started in this context
must have stopped HiGHS (`ending_by`); None: each solve's own deadline only."""


@contextlib.contextmanager
def ending_by(wall_time: float | None) -> Iterator[None]:
    """Within this block every time-limited solve's HiGHS is stopped by ``wall_time``
    (`time.time`) at the latest, whatever its own limit: a command that runs many solves
    under one time limit (``allocator stochastic``) holds that limit as a whole. In a Dask
    worker the time comes from the client's clock."""
    token = _ENDS_BY.set(wall_time)
    try:
        yield
    finally:
        _ENDS_BY.reset(token)


@dataclass(frozen=True)
class Deadline:
    """When a solve with time limit ``limit`` started (`time.monotonic`) and must end;
    ``ends_by`` (monotonic) caps `stop` (`ending_by`)."""

    started: float
    limit: float
    ends_by: float | None = None

    @classmethod
    def starting_now(cls, limit: float, started: float | None = None) -> Deadline:
        """A deadline from now, or from ``started`` (a `time.monotonic`) when given,
        capped by the enclosing `ending_by`."""
        now = time.monotonic()
        wall_end = _ENDS_BY.get()
        ends_by = None if wall_end is None else now + (wall_end - time.time())
        return cls(now if started is None else started, limit, ends_by)

    @property
    def grace(self) -> float:
        return max(GRACE_SECONDS, GRACE_SHARE * self.limit)

    @property
    def stop(self) -> float:
        """HiGHS's processes are killed by then: half the grace is left for reading back."""
        stop = self.started + self.limit + self.grace / 2
        return stop if self.ends_by is None else min(stop, self.ends_by)

    @property
    def end(self) -> float:
        """The solve phase ends by then."""
        return self.started + self.limit + self.grace
