"""How good a time-limited solve's plan was, and when.

The gap against a bound, and the improving plans in time order (summary.json
``plans_found``; the primal integral of benchmarks/anytime.py is computed from them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """|bound - objective| / |objective|, as HiGHS reports its gap (None without both)."""
    if objective is None or bound is None:
        return None
    if objective == 0:
        return 0.0 if bound == 0 else math.inf
    return abs(bound - objective) / abs(objective)


@dataclass(frozen=True)
class PlanFound:
    """A plan better than every one before it: seconds since the clock started, its
    objective and where it came from (``highs``, ``lp_rounding``, ``greedy``)."""

    seconds: float
    objective: float
    source: str

    def as_dict(self) -> dict[str, float | str]:
        return {
            "seconds": round(self.seconds, 3),
            "objective": self.objective,
            "source": self.source,
        }


def plans_found(
    found: list[tuple[float, float, str]], started: float, *, maximize: bool
) -> list[PlanFound]:
    """``found`` (`time.monotonic` when found, objective, source), merged in time order,
    each kept only where it beats every plan before it."""
    kept: list[PlanFound] = []
    for at, objective, source in sorted(found, key=lambda item: item[0]):
        if kept:
            best = kept[-1].objective
            if (objective <= best) if maximize else (objective >= best):
                continue
        kept.append(PlanFound(max(at - started, 0.0), objective, source))
    return kept
