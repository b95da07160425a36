"""Quality against time: the plan a time-limited solve writes, for allocator as a whole
process and for HiGHS alone on the same model exported with ``--write-model``.

    python benchmarks/anytime.py INSTANCE... [--limits 10,60,300] [--repeat 1]
        [--no-highs-alone] [--lp-bound] [--markdown]

For each instance, limit and repeat, prints one JSON line per side: the process wall
time against the deadline T + max(5 s, 5% of T) (HiGHS alone gets no deadline of its
own but the same ``time_limit`` option; it is killed at 3 T + 60 s), the status, where
allocator's plan came from (``plan_source``), the final plan's gap against the best bound
known for the instance (the tightest of every run's bound: HiGHS's, the LP relaxation's,
the Lagrangian; with ``--lp-bound`` also the LP relaxation's optimum, solved by HiGHS alone
on the exported model without a time limit: the bound known where no run of the limit
reaches one, as at XL), and the primal integral: the integral over [0, T] of the primal gap
|z* - z(t)| / max(|z*|, |z(t)|) of the best plan found by time t (1 before the first
plan, and where signs differ), z* the best plan known for the instance over every run,
divided by T, so 0.01 means "on average 1% from the best plan known" (Berthold, 2013).
allocator's curve is summary.json ``plans_found`` (seconds from the start of the
command); HiGHS alone's is its improving-solution callback, timed from the start of its
process. ``--markdown`` prints the table benchmarks/README.md quotes.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HIGHS_ALONE = r"""
import json, sys, time
started = time.perf_counter()
import highspy
highs = highspy.Highs()
for name, value in (("output_flag", False), ("threads", 1), ("random_seed", 20270101),
                    ("mip_heuristic_run_root_reduced_cost", False), ("mip_rel_gap", 1e-4),
                    ("time_limit", float(sys.argv[2]))):
    highs.setOptionValue(name, value)  # allocator's defaults (allocator.solver.highs)
highs.readModel(sys.argv[1])
def improving(event):
    out = event.data_out
    print(json.dumps({"plan": [time.perf_counter() - started, out.objective_function_value,
                               out.mip_dual_bound]}), flush=True)
highs.cbMipImprovingSolution.subscribe(improving)
highs.run()
info = highs.getInfo()
print(json.dumps({"done": {"status": highs.modelStatusToString(highs.getModelStatus()),
                           "objective": info.objective_function_value,
                           "bound": info.mip_dual_bound, "columns": highs.getNumCol()}}))
"""

LP_BOUND = r"""
import sys, time
import highspy
highs = highspy.Highs()
for name, value in (("output_flag", False), ("threads", 1), ("solve_relaxation", True)):
    highs.setOptionValue(name, value)
highs.readModel(sys.argv[1])
started = time.perf_counter()
highs.run()
print(highs.modelStatusToString(highs.getModelStatus()), time.perf_counter() - started,
      repr(highs.getInfo().objective_function_value))
"""


def lp_bound_run(model: Path) -> dict[str, Any]:
    """The LP relaxation's optimum (HiGHS alone, dual simplex, no limit) as a row that
    contributes a bound and no plan."""
    output = subprocess.run(
        [sys.executable, "-c", LP_BOUND, str(model)], check=True, capture_output=True, text=True
    ).stdout.split()
    status, seconds, objective = output[-3], float(output[-2]), float(output[-1])
    return {
        "side": "lp_relaxation",
        "wall_s": round(seconds, 2),
        "status": status,
        "plan_source": None,
        "objective": None,
        "bound": objective if status == "Optimal" else None,
        "bound_source": "lp_relaxation",
        "curve": [],
    }


def deadline(limit: float) -> float:
    return limit + max(5.0, 0.05 * limit)


def allocator_run(instance: Path, out: Path, limit: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "allocator", "solve", str(instance), "--out", str(out)]
    started = time.perf_counter()
    subprocess.run([*command, "-q", "--time-limit", str(limit)], check=True)
    wall = time.perf_counter() - started
    summary = json.loads((out / "summary.json").read_text())
    return {
        "side": "allocator",
        "wall_s": round(wall, 2),
        "status": summary["status"],
        "plan_source": summary.get("plan_source"),
        "objective": summary["objective"],
        "bound": summary.get("best_bound"),
        "bound_source": summary.get("best_bound_source"),
        "curve": [(p["seconds"], p["objective"]) for p in summary.get("plans_found", [])],
        "solve_phase_s": round(summary["timings_seconds"].get("highs", 0.0), 2),
    }


def highs_alone_run(model: Path, limit: float) -> dict[str, Any]:
    command = [sys.executable, "-c", HIGHS_ALONE, str(model), str(limit)]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, stdout=output, text=True)
        try:
            process.wait(timeout=3 * limit + 60)
            killed = False
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            killed = True
        wall = time.perf_counter() - started
        output.seek(0)
        lines = [json.loads(line) for line in output if line.startswith("{")]
    curve = [(line["plan"][0], line["plan"][1]) for line in lines if "plan" in line]
    done = next((line["done"] for line in lines if "done" in line), None)
    bounds = [line["plan"][2] for line in lines if "plan" in line]
    return {
        "side": "highs_alone",
        "wall_s": round(wall, 2),
        "status": "killed at 3T + 60 s" if killed else (done or {}).get("status"),
        "plan_source": "highs",
        "objective": curve[-1][1] if curve else None,
        "bound": (done or {}).get("bound", bounds[-1] if bounds else None),
        "bound_source": "highs",
        "curve": curve,
    }


def primal_gap(best: float, objective: float | None) -> float:
    if objective is None or best * objective < 0:
        return 1.0
    scale = max(abs(best), abs(objective))
    return 0.0 if scale == 0 else abs(best - objective) / scale


def primal_integral(curve: list[tuple[float, float]], best: float, limit: float) -> float:
    """(1/T) * integral over [0, T] of the primal gap of the best plan found by t."""
    total, at, gap = 0.0, 0.0, 1.0
    for seconds, objective in curve:
        if seconds >= limit:
            break
        total += gap * (seconds - at)
        at, gap = seconds, primal_gap(best, objective)
    total += gap * (limit - at)
    return total / limit


def finish(rows: list[dict[str, Any]], limits: list[float]) -> None:
    """Each row's gap against the best bound known and its primal integral, both over
    every run of the instance (a maximization: the tightest bound is the lowest)."""
    plans = [o for row in rows for _, o in row["curve"]] + [
        row["objective"] for row in rows if row["objective"] is not None
    ]
    bounds = [
        row["bound"] for row in rows if row["bound"] is not None and math.isfinite(row["bound"])
    ]
    best, bound = max(plans), min(bounds)
    for row in rows:
        objective = row["objective"]
        row["gap_vs_best_bound"] = (
            None if objective is None else (bound - objective) / abs(objective)
        )
        row["primal_integral"] = (
            primal_integral(row["curve"], best, row["limit_s"]) if row["limit_s"] else None
        )
        row["best_plan_known"], row["best_bound_known"] = best, bound


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| instance | columns | T | side | wall | deadline | status | plan "
        "| gap vs best bound | primal integral / T |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        gap, integral, limit = row["gap_vs_best_bound"], row["primal_integral"], row["limit_s"]
        ends = f"{deadline(limit):g} s" if limit else "-"
        lines.append(
            f"| {row['instance']} | {row['columns']:,} | {f'{limit:g} s' if limit else '-'} "
            f"| {row['side']} | {row['wall_s']:.1f} s | {ends} "
            f"| {row['status']} | {row['plan_source'] or '-'} "
            f"| {'-' if gap is None else f'{100 * gap:.4g}%'} "
            f"| {'-' if integral is None else f'{100 * integral:.4g}%'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", nargs="+", type=Path)
    parser.add_argument("--limits", default="10,60,300")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-highs-alone", action="store_true")
    parser.add_argument("--lp-bound", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    arguments = parser.parse_args()
    limits = [float(value) for value in arguments.limits.split(",")]
    table = []
    with tempfile.TemporaryDirectory() as folder:
        for instance in arguments.instances:
            model = Path(folder) / f"{instance.name}.mps"
            command = [sys.executable, "-m", "allocator", "solve", str(instance)]
            subprocess.run([*command, "--write-model", str(model)], check=True)
            rows = []
            for limit in limits:
                for repeat in range(arguments.repeat):
                    out = Path(folder) / f"{instance.name}-{limit:g}-{repeat}"
                    runs = [allocator_run(instance, out, limit)]
                    if not arguments.no_highs_alone:
                        runs.append(highs_alone_run(model, limit))
                    for run in runs:
                        run |= {"instance": instance.name, "limit_s": limit, "repeat": repeat}
                        print(
                            json.dumps({k: v for k, v in run.items() if k != "curve"}), flush=True
                        )
                    rows += runs
            if arguments.lp_bound:
                bound = lp_bound_run(model) | {"instance": instance.name, "limit_s": 0.0}
                print(json.dumps({k: v for k, v in bound.items() if k != "curve"}), flush=True)
                rows.append(bound)
            columns = _columns(model)
            finish(rows, limits)
            for row in rows:
                row["columns"] = columns
                print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)
            table += rows
    if arguments.markdown:
        print(markdown(table))


def _columns(model: Path) -> int:
    """The exported model's columns (the MPS COLUMNS section's distinct names)."""
    names: set[str] = set()
    section = ""
    with model.open() as handle:
        for line in handle:
            if not line.startswith(" "):
                section = line.split()[0] if line.strip() else section
                continue
            if section == "COLUMNS" and "MARKER" not in line:
                names.add(line.split()[0])
    return len(names)


if __name__ == "__main__":
    main()
