"""Two-stage plans: the whole ``allocator stochastic`` command, and the extensive form's growth.

    python benchmarks/stochastic.py command instances/base-2027 \\
        [--scenarios instances/base-2027/scenarios.csv] [--repeat 3] [--workers 2] \\
        [-- --method decomposition --iterations 5 --time-limit 600]
    python benchmarks/stochastic.py extensive INSTANCE --counts 20,100 [--time-limit 600]
        [--seed 1]
    python benchmarks/stochastic.py decomposition INSTANCE --counts 20,100
        [--time-limit 600] [--seed 1] [--iterations 10] [--workers 2]

``command`` runs ``allocator stochastic INSTANCE --scenarios F --out TMP`` as a whole
process, ``--repeat`` times into fresh folders, and prints the wall time of each run, the
median, and the figures of its stochastic.json (rp, ws, eev, vss, evpi; the recourse
problem's method, status, bound and gap) with every solve's status, gap and seconds from
scenario_results.csv. Options after ``--`` go to ``allocator stochastic``.

``extensive`` times the recourse problem alone as the command solves it
(`allocator.solver.extensive.solve_recourse`: the LP-rounded plan, then the extensive
form's build, hand-off, HiGHS, read-back; status, gap and bound, the rounded plan's value
and seconds and which plan was kept; peak memory of this process) for each count of
scenarios drawn with
``allocator scenarios --demand 0.8:1.2 --prices 0.9:1.1 --count N --seed S``, one solve
per count, under ``--time-limit`` (the deadline machinery of ``--time-limit``: HiGHS is
stopped by T + max(5 s, 5% T) / 2 and its best plan kept).
``decomposition`` runs `allocator.stochastic.decomposition` alone on the same scenarios
(without the EEV's first stage as its first candidate) and prints each iteration.
Other jobs on a shared machine move the absolute figures: repeat and quote medians.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOCATOR = [sys.executable, "-m", "allocator"]


def command(
    instance: Path, scenarios: Path, repeat: int, workers: int | None, extra: list[str]
) -> None:
    walls = []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(repeat):
            out = Path(folder) / f"run-{run}"
            arguments = [*ALLOCATOR, "stochastic", str(instance), "--scenarios", str(scenarios)]
            arguments += ["--out", str(out), "--quiet", *extra]
            if workers is not None:
                arguments += ["--workers", str(workers)]
            started = time.perf_counter()
            done = subprocess.run(arguments, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - started
            walls.append(wall)
            record = json.loads((out / "stochastic.json").read_text(encoding="utf-8"))
            figures = {key: record.get(key) for key in ("rp", "ws", "eev", "vss", "evpi")}
            recourse = {
                key: record["recourse"].get(key)
                for key in ("method", "status", "best_bound", "mip_gap", "iterations", "stopped")
                if key in record["recourse"]
            }
            print(
                json.dumps(
                    {
                        "run": run,
                        "exit": done.returncode,
                        "wall": round(wall, 1),
                        **figures,
                        "recourse": recourse,
                    }
                )
            )
            import pandas as pd

            table = pd.read_csv(out / "scenario_results.csv")
            columns = ["solve", "scenario", "status", "mip_gap", "solve_seconds", "seconds"]
            print(table[[c for c in columns if c in table]].to_string(index=False), flush=True)
    print(
        f"median wall {statistics.median(walls):.1f} s over {repeat}: "
        f"{[round(w, 1) for w in walls]}"
    )


def _drawn(folder: Path, count: int, seed: int) -> Path:
    """``allocator scenarios --demand 0.8:1.2 --prices 0.9:1.1 --count N --seed S``."""
    path = folder / f"scenarios-{count}.csv"
    ranges = ["--demand", "0.8:1.2", "--prices", "0.9:1.1"]
    subprocess.run(
        [*ALLOCATOR, "scenarios", str(path), *ranges, "--count", str(count), "--seed", str(seed)],
        check=True,
        capture_output=True,
    )
    return path


def extensive(instance_path: Path, counts: list[int], time_limit: float, seed: int) -> None:
    from allocator.data.validate import load_instance
    from allocator.model.extensive import ScenarioModel
    from allocator.solver.extensive import solve_recourse
    from allocator.solver.highs import SolverOptions
    from allocator.solver.pipeline import RunOptions
    from allocator.stochastic.scenario_file import read_scenarios
    from allocator.whatif.scenarios import scenario_instance

    base = load_instance(instance_path)
    options = RunOptions(SolverOptions(time_limit=time_limit), marginal_values=False)
    with tempfile.TemporaryDirectory() as folder:
        for count in counts:
            scenarios = read_scenarios(_drawn(Path(folder), count, seed)).scenarios
            started = time.perf_counter()
            models = [
                ScenarioModel(s.name, s.probability, scenario_instance(base, s.variant()))
                for s in scenarios
            ]
            variants = time.perf_counter() - started
            result = solve_recourse(base, models, options, deals=False)
            outcome = result.outcome
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                json.dumps(
                    {
                        "scenarios": count,
                        "columns": result.columns,
                        "rows": result.rows,
                        "variants_s": round(variants, 1),
                        **{f"{k}_s": round(v, 1) for k, v in result.timings.items()},
                        "status": str(outcome.termination),
                        "mip_gap": outcome.mip_gap,
                        "rp": result.rp,
                        "best_bound": outcome.best_bound,
                        "lp_rounding_rp": None if result.known is None else result.known.rp,
                        "lp_rounding_s": None
                        if result.known is None
                        else round(result.known.seconds, 1),
                        "plan_source": "lp_rounding" if result.known_kept else "extensive_form",
                        "wall_s": round(time.perf_counter() - started, 1),
                        "peak_rss_mb": round(peak),
                    }
                ),
                flush=True,
            )


def decomposition(
    instance_path: Path,
    counts: list[int],
    time_limit: float,
    seed: int,
    iterations: int,
    workers: int,
) -> None:
    """The decomposition alone (no wait-and-see, mean or EEV solves, so no EEV seed):
    each iteration's bound, best plan, gap and seconds, on ``workers`` (1: this
    process, else a local Dask cluster)."""
    from allocator.data.validate import load_instance
    from allocator.solver.highs import SolverOptions
    from allocator.solver.pipeline import RunOptions
    from allocator.stochastic.decomposition import decompose
    from allocator.stochastic.executor import Budget, executor
    from allocator.stochastic.scenario_file import read_scenarios
    from allocator.whatif.scenarios import scenario_instance

    base = load_instance(instance_path)
    options = RunOptions(SolverOptions(time_limit=time_limit))
    with tempfile.TemporaryDirectory() as folder:
        for count in counts:
            scenarios = read_scenarios(_drawn(Path(folder), count, seed)).scenarios
            started = time.perf_counter()
            instances = [scenario_instance(base, s.variant()) for s in scenarios]
            with executor(base, workers, None, count) as (submit, completed, slots):
                budget = Budget(time_limit, slots)
                answer = decompose(
                    base, scenarios, instances, options, submit, completed, budget,
                    iterations=iterations,
                )  # fmt: skip
            for row in answer.iterations:
                print(json.dumps({"scenarios": count, **row}), flush=True)
            best = answer.best
            print(
                json.dumps(
                    {
                        "scenarios": count,
                        "stopped": answer.stopped,
                        "rp": None if best is None else best.value,
                        "best_bound": answer.bound,
                        "mip_gap": answer.gap,
                        "wall_s": round(time.perf_counter() - started, 1),
                    }
                ),
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    whole = sub.add_parser("command")
    whole.add_argument("instance", type=Path)
    whole.add_argument("--scenarios", type=Path)
    whole.add_argument("--repeat", type=int, default=3)
    whole.add_argument("--workers", type=int)
    alone = sub.add_parser("extensive")
    alone.add_argument("instance", type=Path)
    alone.add_argument("--counts", default="20,100")
    alone.add_argument("--time-limit", type=float, default=600.0)
    alone.add_argument("--seed", type=int, default=1)
    split = sub.add_parser("decomposition")
    split.add_argument("instance", type=Path)
    split.add_argument("--counts", default="20,100")
    split.add_argument("--time-limit", type=float, default=600.0)
    split.add_argument("--seed", type=int, default=1)
    split.add_argument("--iterations", type=int, default=10)
    split.add_argument("--workers", type=int, default=2)
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []  # for allocator stochastic
    arguments = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if arguments.mode == "command":
        scenarios = arguments.scenarios or arguments.instance / "scenarios.csv"
        command(arguments.instance, scenarios, arguments.repeat, arguments.workers, extra)
    elif arguments.mode == "extensive":
        counts = [int(part) for part in arguments.counts.split(",")]
        extensive(arguments.instance, counts, arguments.time_limit, arguments.seed)
    else:
        counts = [int(part) for part in arguments.counts.split(",")]
        decomposition(
            arguments.instance,
            counts,
            arguments.time_limit,
            arguments.seed,
            arguments.iterations,
            arguments.workers,
        )


if __name__ == "__main__":
    main()
