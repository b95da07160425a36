"""The lexicographic rule against the profit rule, and our stages against HiGHS's own.

    python benchmarks/priority.py [--repeat 3] [--mip-gap 1e-4] [--native]

Whole ``allocator solve`` processes, medians of ``--repeat`` runs taken in turn (so that
load from other jobs spreads over all of them):

* ``profit``: ``instances/base-2027`` under the profit rule;
* ``tiers``: ``instances/base-2027-tiered`` (three tiers, fair share) with
  ``--no-priority-cost``: the stages and the profit stage;
* ``tiers+cost``: the same with the priority cost (one more solve, under profit).

The issue's target: ``tiers`` at most 3x ``profit``. With ``--native`` it also times,
in this process, HiGHS's own lexicographic objectives (``addLinearObjective`` with
``blend_multi_objectives`` off; priorities in stage order, profit last) on the same
compiled model, against our stage loop (`allocator.solver.stages`) on it, and prints
both stage values so that they can be compared.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from run import allocator_command, run_measured  # noqa: E402

CASES = {
    "profit": (ROOT / "instances" / "base-2027", []),
    "tiers": (ROOT / "instances" / "base-2027-tiered", ["--no-priority-cost"]),
    "tiers+cost": (ROOT / "instances" / "base-2027-tiered", []),
}


def whole_processes(repeat: int, gap: float) -> dict[str, list[float]]:
    walls: dict[str, list[float]] = {case: [] for case in CASES}
    with tempfile.TemporaryDirectory() as scratch:
        for round_number in range(repeat):
            for case, (instance, extra) in CASES.items():
                out = Path(scratch) / f"{case}-{round_number}"
                command = [
                    *allocator_command(), "solve", str(instance), "--out", str(out),
                    "--mip-gap", str(gap), "-q", *extra,
                ]  # fmt: skip
                walls[case].append(run_measured(command).wall)
                print(f"{case:>11} run {round_number + 1}: {walls[case][-1]:7.2f} s", flush=True)
    return walls


def native_against_stages(gap: float) -> None:
    """HiGHS's lexicographic objectives against the stage loop, same compiled model."""
    import highspy
    import numpy as np

    from allocator.data.validate import load_instance
    from allocator.model.build import ModelOptions, build_model
    from allocator.solver.highs import SolverOptions, compile_model, maximizes
    from allocator.solver.pipeline import RunOptions, solve_instance

    instance = load_instance(CASES["tiers"][0])
    compiled = compile_model(build_model(instance, ModelOptions()))
    started = time.perf_counter()
    ours = solve_instance(instance, RunOptions(SolverOptions(mip_gap=gap), priority_cost=False))
    ours_seconds = time.perf_counter() - started
    print(f"stage loop (build included): {ours_seconds:.2f} s")
    for report in ours.priority_stages:
        print(f"  {report.stage.label:>16}: {report.value!r} ({report.termination})")

    highs = highspy.Highs()
    for name, value in SolverOptions(mip_gap=gap).highs_options().items():
        highs.setOptionValue(name, value)
    highs.setOptionValue("blend_multi_objectives", False)
    lp = compiled.lp
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
        for flag in compiled.is_integer
    ]
    highs.passModel(lp)
    costs = [*compiled.stage_costs, np.asarray(lp.col_cost_)]
    sign = 1.0 if maximizes(compiled) else -1.0
    for priority, cost in enumerate(costs):
        objective = highspy.HighsLinearObjective()
        objective.weight = -1.0 if priority < len(costs) - 1 else -sign  # minimize -objective
        objective.offset = 0.0
        objective.coefficients = list(map(float, cost))
        objective.abs_tolerance = 1e-9
        objective.rel_tolerance = 0.0
        objective.priority = len(costs) - priority  # higher first
        highs.addLinearObjective(objective)
    started = time.perf_counter()
    highs.run()
    native_seconds = time.perf_counter() - started
    values = np.asarray(highs.getSolution().col_value)
    print(
        f"HiGHS lexicographic objectives (solve only): {native_seconds:.2f} s, "
        f"status {highs.getModelStatus()}"
    )
    for cost in compiled.stage_costs:
        print(f"  stage value {float(cost @ values)!r}")
    profit = float(np.asarray(lp.col_cost_) @ values) + compiled.objective_offset
    print(f"  profit {profit!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mip-gap", type=float, default=1e-4)
    parser.add_argument("--native", action="store_true")
    args = parser.parse_args()
    walls = whole_processes(args.repeat, args.mip_gap)
    profit = statistics.median(walls["profit"])
    print("\n| case | median wall (s) | runs | x profit |\n|---|---|---|---|")
    for case, runs in walls.items():
        median = statistics.median(runs)
        shown = ", ".join(f"{run:.2f}" for run in runs)
        print(f"| {case} | {median:.2f} | {shown} | {median / profit:.2f} |")
    if args.native:
        print()
        native_against_stages(args.mip_gap)


if __name__ == "__main__":
    main()
