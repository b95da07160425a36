"""allocator against HiGHS alone, per phase, at sizes S (~1k variables) to XL (~1M).

    python benchmarks/run.py [--sizes S,M,L,XL] [--repeat 3] [--modes mip,relax]
                             [--out benchmarks/results]

For each size an instance is made with `allocator generate` (cached under OUT). Each
mode (the MIP to gap 1e-4, and the LP relaxation `--relax`) is measured two ways, each
as a whole process so imports and start-up count. At XL gap 1e-4 is out of reach in
minutes, so both ways get the same `TIME_LIMITS`; L and XL are run ``--repeat-large``
times (default 1):

* allocator: ``allocator solve INSTANCE --out DIR`` (one HiGHS thread, fixed seed);
  its phases come from ``summary.json`` (read+validate, build, hand-off, HiGHS, the wait
  for the marginal-value LP solved beside the MIP, extract), import time from a separate
  ``import allocator.solver.pipeline``, the rest of the wall time is reported as ``write+exit``;
* HiGHS alone, the physical limit: the same model exported once with
  ``allocator solve --write-model`` and solved by highspy from that file with the same
  options, timing ``run()`` only.

"ratio" is allocator's whole process over HiGHS alone's ``run()``. HiGHS's search can
take another path inside allocator (its start, its column order), so the table also
gives allocator's overhead (whole process minus its own HiGHS phase) and 1 + that
overhead over HiGHS alone.

Peak memory is each process's maximum resident set (``os.wait4``; for allocator the
larger of its own and its marginal-value LP child's, which run at the same time). Medians of
``--repeat`` runs. Writes ``OUT/benchmark.md``, ``OUT/benchmark.csv`` and
``OUT/benchmark.png`` (log-log time against variables) and prints the table.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES: dict[str, tuple[int, int, int]] = {
    # name: (regions, buyers, periods) for `allocator generate`
    "S": (5, 10, 24),
    "M": (30, 120, 48),
    "ML": (60, 480, 72),  # ~81k columns: the LP of issue 13's fixed-cost target
    "L": (100, 900, 96),
    "XL": (200, 2700, 160),
}
TIME_LIMITS: dict[str, float] = {"XL": 300.0}
"""Seconds given to HiGHS (both ways) where gap 1e-4 is out of reach: on the generated XL
instance the LP relaxation alone took HiGHS 1,316 s (dual simplex, loaded machine). With
600 s, HiGHS inside allocator finished the root LP and then overran the limit by over 28
minutes in its line-search rounding heuristic; 300 s stops both inside the root LP."""
LARGE = ("L", "XL")
SEED = 7
MIP_GAP = 1e-4

PHASES = (
    "import",
    "read_validate",
    "build",
    "hand_off",
    "highs",
    "lp_relaxation_wait",
    "extract",
    "write+exit",
)

HIGHS_ALONE = r"""
import json, sys, time
import highspy
highs = highspy.Highs()
highs.setOptionValue("output_flag", False)
highs.setOptionValue("threads", 1)
highs.setOptionValue("random_seed", 20270101)
highs.setOptionValue("mip_heuristic_run_root_reduced_cost", False)  # as allocator.solver.highs
highs.setOptionValue("mip_rel_gap", float(sys.argv[2]))
if sys.argv[3] != "none":
    highs.setOptionValue("time_limit", float(sys.argv[3]))
highs.readModel(sys.argv[1])
started = time.perf_counter()
highs.run()
seconds = time.perf_counter() - started
info = highs.getInfo()
print(json.dumps({"seconds": seconds, "objective": info.objective_function_value,
                  "gap": info.mip_gap if highs.getLp().integrality_ else 0.0,
                  "status": highs.modelStatusToString(highs.getModelStatus()),
                  "columns": highs.getNumCol(), "rows": highs.getNumRow()}))
"""


@dataclass
class Run:
    wall: float
    peak_mb: float
    stdout: str


def run_measured(command: list[str]) -> Run:
    """Run a command to completion: its wall time, output and own peak resident memory
    (``os.wait4`` gives the rusage of exactly that child)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{err.read()[-3000:]}")
        return Run(wall, usage.ru_maxrss / 1024.0, out.read())


def allocator_command() -> list[str]:
    return [sys.executable, "-m", "allocator"]


def import_seconds() -> float:
    code = (
        "import time; t = time.perf_counter(); import allocator.solver.pipeline, "
        "allocator.outputs.result_files, allocator.data.validate; print(time.perf_counter() - t)"
    )
    return float(run_measured([sys.executable, "-c", code]).stdout)


def make_instance(size: str, out: Path) -> Path:
    folder = out / "instances" / size
    if not (folder / "orders.csv").exists():
        regions, buyers, periods = SIZES[size]
        run_measured(
            [
                *allocator_command(),
                "generate",
                str(folder),
                "--regions",
                str(regions),
                "--buyers",
                str(buyers),
                "--periods",
                str(periods),
                "--seed",
                str(SEED),
            ]
        )
    return folder


def measure(size: str, mode: str, repeat: int, out: Path) -> dict[str, float | str]:
    instance = make_instance(size, out)
    relax = ["--relax"] if mode == "relax" else []
    model_file = out / "models" / f"{size}-{mode}.mps"
    if not model_file.exists():
        run_measured(
            [*allocator_command(), "solve", str(instance), "--write-model", str(model_file), *relax]
        )
    alone_runs, allocator_runs, phase_runs = [], [], []
    alone: dict[str, float | str] = {}
    summary: dict[str, object] = {}
    imports = statistics.median(import_seconds() for _ in range(repeat))
    limit = TIME_LIMITS.get(size) if mode == "mip" else None
    time_limit = [] if limit is None else ["--time-limit", str(limit)]
    for _ in range(repeat):
        run = run_measured(
            [sys.executable, "-c", HIGHS_ALONE, str(model_file), str(MIP_GAP), str(limit or "none")]
        )
        alone = json.loads(run.stdout)
        alone_runs.append((run.wall, float(alone["seconds"]), run.peak_mb))
        result_dir = out / "results" / f"{size}-{mode}"
        run = run_measured(
            [
                *allocator_command(),
                "solve",
                str(instance),
                "--out",
                str(result_dir),
                "--mip-gap",
                str(MIP_GAP),
                "-q",
                *relax,
                *time_limit,
            ]
        )
        summary = json.loads((result_dir / "summary.json").read_text())
        timings = dict(summary["timings_seconds"])  # type: ignore[call-overload]
        phases = {name: float(timings.get(name, 0.0)) for name in PHASES if name in timings}
        phases["import"] = imports
        phases["write+exit"] = max(0.0, run.wall - sum(phases.values()))
        phase_runs.append(phases)
        allocator_runs.append((run.wall, run.peak_mb))
    row: dict[str, float | str] = {
        "size": size,
        "mode": mode,
        "variables": float(alone["columns"]),
        "rows": float(alone["rows"]),
        "highs_alone_run_s": statistics.median(r[1] for r in alone_runs),
        "highs_alone_process_s": statistics.median(r[0] for r in alone_runs),
        "highs_alone_peak_mb": statistics.median(r[2] for r in alone_runs),
        "allocator_process_s": statistics.median(r[0] for r in allocator_runs),
        "allocator_peak_mb": statistics.median(r[1] for r in allocator_runs),
        "status": str(summary["status"]),
        "gap": float(summary["mip_gap"] or 0.0),  # type: ignore[arg-type]
        "objective": float(summary["objective"]),  # type: ignore[arg-type]
        "highs_alone_objective": float(alone["objective"]),
        "highs_alone_status": str(alone["status"]),
        "highs_alone_gap": float(alone["gap"]),
        "time_limit": float(limit or 0.0),
    }
    for name in PHASES:
        values = [phases.get(name, 0.0) for phases in phase_runs]
        row[name] = statistics.median(values)
    row["ratio_time"] = float(row["allocator_process_s"]) / float(row["highs_alone_run_s"])
    # HiGHS may take a different path inside allocator (another start, column order):
    # the time allocator adds around its own HiGHS phase, against HiGHS alone
    row["overhead_s"] = float(row["allocator_process_s"]) - float(row["highs"])
    row["ratio_overhead"] = 1.0 + float(row["overhead_s"]) / float(row["highs_alone_run_s"])
    row["ratio_memory"] = float(row["allocator_peak_mb"]) / float(row["highs_alone_peak_mb"])
    return row


def markdown(rows: list[dict[str, float | str]]) -> str:
    head = [
        "size",
        "mode",
        "variables",
        "HiGHS alone (s)",
        "allocator (s)",
        "ratio",
        "overhead (s)",
        "1 + overhead / HiGHS alone",
        *PHASES,
        "peak MB alloc / HiGHS",
        "status, gap",
        "HiGHS alone status, gap",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [
            str(row["size"]),
            str(row["mode"]),
            f"{float(row['variables']):,.0f}",
            f"{float(row['highs_alone_run_s']):.2f}",
            f"{float(row['allocator_process_s']):.2f}",
            f"{float(row['ratio_time']):.2f}x",
            f"{float(row['overhead_s']):.2f}",
            f"{float(row['ratio_overhead']):.2f}x",
            *(f"{float(row[name]):.2f}" for name in PHASES),
            f"{float(row['allocator_peak_mb']):.0f} / {float(row['highs_alone_peak_mb']):.0f}"
            f" ({float(row['ratio_memory']):.2f}x)",
            f"{row['status']}, {float(row['gap']):.1e}",
            f"{row['highs_alone_status']}, {float(row['highs_alone_gap']):.1e}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, float | str]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for mode in dict.fromkeys(str(row["mode"]) for row in rows):
        chosen = [row for row in rows if row["mode"] == mode]
        sizes = [float(row["variables"]) for row in chosen]
        for key, label in (
            ("allocator_process_s", "allocator (whole process)"),
            ("highs_alone_run_s", "HiGHS alone (run)"),
        ):
            axis.plot(
                sizes, [float(row[key]) for row in chosen], marker="o", label=f"{label}, {mode}"
            )
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("variables")
    axis.set_ylabel("seconds (median)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="S,M,L")
    parser.add_argument("--modes", default="mip,relax")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--repeat-large", type=int, default=1, help="runs at L and XL (minutes each)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    # allocator's bytecode as any installation has it (pip compiles it; an editable
    # checkout caches it on first import), also where PYTHONDONTWRITEBYTECODE is set, as
    # on the project machine: there every allocator process compiled ~120 modules again
    compileall.compile_dir(ROOT / "allocator", quiet=1)
    rows = []
    for size in args.sizes.split(","):
        for mode in args.modes.split(","):
            repeat = args.repeat_large if size in LARGE else args.repeat
            row = measure(size, mode, repeat, args.out)
            rows.append(row)
            print(markdown([row]).splitlines()[-1], flush=True)
    table = markdown(rows)
    (args.out / "benchmark.md").write_text(table)
    columns = list(rows[0])
    lines = [",".join(columns)] + [",".join(str(row[c]) for c in columns) for row in rows]
    (args.out / "benchmark.csv").write_text("\n".join(lines) + "\n")
    try:
        plot(rows, args.out / "benchmark.png")
    except ImportError:
        print("matplotlib not installed: no plot")
    print(table)
    shutil.rmtree(args.out / "results", ignore_errors=True)


if __name__ == "__main__":
    main()
