"""Time each phase of a solve (read+validate, build, hand-off, HiGHS, extract, write).

    python benchmarks/phases.py instances/base-2027 [more instances...] [--repeat 3]
        [--mip-gap 1e-4] [--time-limit 600] [--relax]

Prints one row per instance with the median of ``--repeat`` runs of each phase, the
model size and the outcome. All runs are in this one process after a warm-up import, so
the figures exclude interpreter start-up and imports (measured separately as
``import``, once, in a child process).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _import_seconds() -> float:
    code = (
        "import time; t = time.perf_counter(); import allocator.solver.pipeline; "
        "print(time.perf_counter() - t)"
    )
    return float(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )


def measure(
    path: Path, repeat: int, mip_gap: float, time_limit: float | None, relax: bool
) -> dict[str, object]:
    from allocator.data.validate import load_instance
    from allocator.outputs.result_files import write_result
    from allocator.solver.highs import SolverOptions
    from allocator.solver.pipeline import RunOptions, solve_instance

    runs: dict[str, list[float]] = {}
    outcome: dict[str, object] = {}
    for _ in range(repeat):
        started = time.perf_counter()
        instance = load_instance(path)
        read = time.perf_counter() - started
        options = RunOptions(SolverOptions(mip_gap=mip_gap, time_limit=time_limit), relax=relax)
        result = solve_instance(instance, options)
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            write_result(result, Path(folder) / "out", str(path))
            write = time.perf_counter() - started
        phases = {"read+validate": read, **result.timings, "write": write}
        for name, seconds in phases.items():
            runs.setdefault(name, []).append(seconds)
        outcome = {
            "status": str(result.status),
            "objective": result.objective,
            "gap": result.mip_gap,
        }
    medians = {name: statistics.median(values) for name, values in runs.items()}
    return {"instance": str(path), **medians, **outcome}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("instances", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mip-gap", type=float, default=1e-4)
    parser.add_argument("--time-limit", type=float, default=None)
    parser.add_argument("--relax", action="store_true")
    args = parser.parse_args()
    print(f"import allocator.solver.pipeline: {_import_seconds():.2f} s (child process)")
    from allocator.data.validate import load_instance
    from allocator.model.build import ModelOptions, build_model

    for path in args.instances:
        instance = load_instance(path)
        model = build_model(instance, ModelOptions(relax=args.relax))
        size = f"{model.nvariables():,} variables, {model.nconstraints():,} constraints"
        row = measure(path, args.repeat, args.mip_gap, args.time_limit, args.relax)
        timings = ", ".join(
            f"{name} {value:.2f}s"
            for name, value in row.items()
            if isinstance(value, float) and name not in ("objective", "gap")
        )
        print(
            f"{path}: {size}; median of {args.repeat}: {timings}; status {row['status']}, "
            f"objective {row['objective']:,.0f}, gap {row['gap']}"
        )


if __name__ == "__main__":
    main()
