"""What-if re-solves: rebuilding the model per scenario against updating it in place.

    python benchmarks/whatif_resolve.py instances/base-2027 [more instances...]
        [--scales 0.5,0.75,1,1.25,1.5] [--mip-gap 1e-4] [--time-limit S]
        [--modes rebuild,in_place,warm_start] [--repeat 1] [--relax]

For each instance, solves one surplus-scale sweep serially in this one process, once per
mode, the way `allocator.whatif.scenarios.solve_scenario` does (scenario instance, then solve):

* ``rebuild``: `pipeline.solve_instance` per scenario (build the Pyomo model, compile);
* ``in_place``: `resolve.solve_instance` inside `resolve.variants_of(base)`: the base
  model is built and compiled once (in the first scenario's figures), every scenario
  is a copy of its arrays with the foundry_surplus bounds updated;
* ``warm_start``: as ``in_place``, and each MIP starts from the previous scenario's plan
  when it is feasible (it is when the scale grows) and better than shipping nothing.
  Tried and not kept in `allocator.solver.resolve` (HiGHS took longer); implemented here only.

Prints per scenario the seconds of each phase (``variant``: the scenario's instance;
``model``: build + compile, or the in-place update + hand-off; ``highs``: the MIP;
``extract``: plan, check, marginal values), the objective and the gap, then per mode
the median of each phase over all scenarios and repeats (``--repeat`` runs the modes
in turn, so that load from other jobs spreads over all of them) and the sum of one
sweep (its median over the repeats). Other jobs on the machine move the absolute
figures: compare modes within one run. ``rebuild`` and ``in_place`` solve the same arrays
from the same start, so their objectives must be equal (checked); a warm start may stop
at another plan within the gap (checked against the cold start's bounds).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

PHASES = ("variant", "model", "highs", "extract", "total")


class WarmStarted:
    """`resolve.VariantSolver.solve` in place, with the MIP started from the previous plan
    when `check_plan` finds it feasible for the next scenario and its objective beats
    the ship-nothing start (as `pipeline._solve_lp_first` picks its start)."""

    def __init__(self, base: Any, options: Any) -> None:
        from allocator.solver import resolve

        self.options = options
        self.compiled = resolve.CompiledBase(base, options.model_options())
        self.first = True
        self.previous: Any = None

    def solve(self, instance: Any) -> Any:
        from allocator.model.start import start_values
        from allocator.plan.check import check_plan
        from allocator.solver import pipeline
        from allocator.solver.highs import start_objective
        from allocator.solver.resolve import start_vector

        timings: dict[str, float] = {}
        if self.first:
            timings["build"] = self.compiled.build_seconds
            timings["hand_off"] = self.compiled.compiled.compile_seconds
            self.first = False
        started = time.perf_counter()
        compiled = self.compiled.update(instance)
        previous = self.previous
        if previous is not None and not check_plan(instance, previous, tolerance=1e-9):
            start = start_vector(compiled.names, start_values(instance, previous))
            if compiled.start is None or start_objective(compiled, start) > start_objective(
                compiled, compiled.start
            ):
                compiled.start = start
        timings["in_place_update"] = time.perf_counter() - started
        result = pipeline.solve_built(instance, self.options, None, compiled, timings)
        self.previous = result.plan
        return result


def solve_sweep(path: Path, scales: list[float], mode: str, options: Any) -> list[dict[str, Any]]:
    from allocator.data.validate import load_instance
    from allocator.solver import pipeline, resolve
    from allocator.whatif.scenarios import scenario_instance
    from allocator.whatif.spec import Scenario

    base = load_instance(path)
    resolve.clear_cache()
    warm = WarmStarted(base, options) if mode == "warm_start" else None
    rows = []
    for scale in scales:
        started = time.perf_counter()
        instance = scenario_instance(base, Scenario(f"surplus-x{scale:g}", "sweep", scale))
        variant_seconds = time.perf_counter() - started
        if mode == "rebuild":
            result = pipeline.solve_instance(instance, options)
        elif warm is not None:
            result = warm.solve(instance)
        else:
            result = resolve.variant_solver(base).solve(instance, options)
        total = time.perf_counter() - started
        timings = result.timings
        model = sum(
            timings.get(name, 0.0) for name in ("build", "hand_off", "in_place_update")
        ) + timings.get("warm_start", 0.0)
        rows.append(
            {
                "scale": scale,
                "variant": variant_seconds,
                "model": model,
                "highs": timings.get("highs", 0.0),
                "extract": timings.get("extract", 0.0),
                "total": total,
                "objective": result.objective,
                "bound": result.best_bound,
                "gap": result.mip_gap,
                "in_place": "in_place_update" in timings,
            }
        )
        print(
            f"  {mode:10s} x{scale:<5g} "
            + " ".join(f"{name} {rows[-1][name]:6.2f}s" for name in PHASES)
            + f"  objective {result.objective:,.0f} gap {result.mip_gap:.2e}"
            + ("" if mode == "rebuild" else f" in_place={rows[-1]['in_place']}"),
            flush=True,
        )
    resolve.clear_cache()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("instances", nargs="+", type=Path)
    parser.add_argument("--scales", default="0.5,0.75,1,1.25,1.5")
    parser.add_argument("--mip-gap", type=float, default=1e-4)
    parser.add_argument("--time-limit", type=float, default=None)
    parser.add_argument("--modes", default="rebuild,in_place,warm_start")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--relax", action="store_true", help="LP sweeps (no warm start)")
    args = parser.parse_args()
    from allocator.solver.highs import SolverOptions
    from allocator.solver.pipeline import RunOptions

    solver = SolverOptions(mip_gap=args.mip_gap, time_limit=args.time_limit)
    options = RunOptions(solver, relax=args.relax)
    scales = sorted(float(value) for value in args.scales.split(","))
    modes = [mode for mode in args.modes.split(",") if not (args.relax and mode == "warm_start")]
    for path in args.instances:
        what = "LP relaxation" if args.relax else f"mip_gap {args.mip_gap}"
        print(f"{path}: surplus scales {scales}, {what}", flush=True)
        runs: dict[str, list[list[dict[str, Any]]]] = {mode: [] for mode in modes}
        for _ in range(args.repeat):
            for mode in modes:
                runs[mode].append(solve_sweep(path, scales, mode, options))
        print(f"{path}: median per scenario (median sum of one sweep of {len(scales)})")
        for mode, sweeps in runs.items():
            rows = [row for sweep in sweeps for row in sweep]
            figures = " ".join(
                f"{name} {statistics.median(row[name] for row in rows):6.2f}s"
                f" ({statistics.median(sum(row[name] for row in sweep) for sweep in sweeps):6.2f}s)"
                for name in PHASES
            )
            print(f"  {mode:10s} {figures}")
        check(runs)


def check(runs: dict[str, list[list[dict[str, Any]]]]) -> None:
    """Rebuild and in-place must agree exactly; a warm start within the cold bounds."""

    def pairs(mode: str, other: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [
            pair
            for ours, theirs in zip(runs[mode], runs[other], strict=True)
            for pair in zip(ours, theirs, strict=True)
        ]

    if "rebuild" in runs and "in_place" in runs:
        same = all(a["objective"] == b["objective"] for a, b in pairs("rebuild", "in_place"))
        print(f"  rebuild and in_place objectives identical: {same}")
    if "warm_start" in runs and "in_place" in runs:
        within = all(
            warm["objective"] <= cold["bound"] * (1 + 1e-9)
            and cold["objective"] <= warm["bound"] * (1 + 1e-9)
            for warm, cold in pairs("warm_start", "in_place")
        )
        differ = sum(
            warm["objective"] != cold["objective"] for warm, cold in pairs("warm_start", "in_place")
        )
        print(
            "  warm_start objectives within the cold start's bounds (and back): "
            f"{within}; {differ} differ from the cold start's"
        )


if __name__ == "__main__":
    main()
