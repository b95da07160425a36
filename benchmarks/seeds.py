"""HiGHS's time under allocator at the default gap, over HiGHS's random seeds.

    python benchmarks/seeds.py INSTANCE... [--seeds 1,2,3,4] [--mip-gap 1e-4] [--direct]

Per instance and seed: `allocator.solver.pipeline.solve_instance` in this process (no
time limit, one thread, the seed given), with the time of every phase; "solver" is the
time HiGHS runs under allocator (the LP relaxation, the RINS sub-MIP and the MIP), the
rest is Python (rounding, build, read-back). ``--direct`` sends every MIP to HiGHS
directly as before `allocator.solver.neighbourhood` (the ship-nothing start, the LP
relaxation for the marginal values beside it or after it). Prints one line per run,
then per instance the median and the largest solver time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from allocator.data.validate import load_instance
from allocator.solver import neighbourhood
from allocator.solver.highs import SolverOptions
from allocator.solver.pipeline import RunOptions, solve_instance

SOLVER_PHASES = ("lp_relaxation", "neighbourhood", "highs", "lp_relaxation_wait")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("instances", nargs="+", type=Path)
    parser.add_argument("--seeds", default="1,2,3,4")
    parser.add_argument("--mip-gap", type=float, default=1e-4)
    parser.add_argument("--direct", action="store_true")
    arguments = parser.parse_args()
    if arguments.direct:
        neighbourhood.MIN_COLUMNS = 2**62
    seeds = [int(seed) for seed in arguments.seeds.split(",")]
    for folder in arguments.instances:
        instance = load_instance(folder)
        solver_seconds = []
        for seed in seeds:
            options = RunOptions(SolverOptions(mip_gap=arguments.mip_gap, seed=seed))
            started = time.perf_counter()
            result = solve_instance(instance, options)
            wall = time.perf_counter() - started
            timings = result.timings
            solver = sum(timings.get(phase, 0.0) for phase in SOLVER_PHASES)
            solver_seconds.append(solver)
            phases = ", ".join(f"{name} {seconds:.2f}" for name, seconds in timings.items())
            print(
                f"{folder.name} seed {seed}: solver {solver:.2f} s, in-process {wall:.2f} s, "
                f"{result.termination.value}, objective {result.objective:,.0f}, "
                f"bound {result.best_bound:,.0f}, gap {result.mip_gap:.2e}, "
                f"plan {result.plan_source}, bound {result.bound_source} ({phases})",
                flush=True,
            )
        print(
            f"{folder.name}: solver median {statistics.median(solver_seconds):.2f} s, "
            f"largest {max(solver_seconds):.2f} s over seeds {arguments.seeds}",
            flush=True,
        )


if __name__ == "__main__":
    main()
