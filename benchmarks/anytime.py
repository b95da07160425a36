"""Time-limited solves as whole `allocator solve` processes: does the deadline hold, and
how good is the plan written by then?

    python benchmarks/anytime.py INSTANCE... [--time-limit 60] [--repeat 1]

For each instance and repeat prints the process wall time, the solve phase (HiGHS in its
child process until it answered or was stopped, plus reading the plan back) against the
deadline T + max(5 s, 5% of T), the status, where the plan came from (``plan_source``),
its gap against the best bound and whose bound that is, and the internal fill.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_solve(instance: Path, out: Path, limit: float) -> dict[str, object]:
    started = time.perf_counter()
    command = [sys.executable, "-m", "allocator", "solve", str(instance), "--out", str(out)]
    subprocess.run([*command, "-q", "--time-limit", str(limit)], check=True)
    wall = time.perf_counter() - started
    summary = json.loads((out / "summary.json").read_text())
    timings = summary["timings_seconds"]
    gap = summary["mip_gap"]
    return {
        "instance": instance.name,
        "wall_s": round(wall, 2),
        "solve_phase_s": round(timings["highs"] + timings.get("extract", 0.0), 2),
        "deadline_s": round(limit + max(5.0, 0.05 * limit), 2),
        "status": summary["status"],
        "plan_source": summary.get("plan_source"),
        "gap_percent": None if gap is None else round(100 * gap, 4),
        "bound": summary.get("best_bound_source"),
        "internal_fill": summary["fill"]["internal"]["fill_rate"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", nargs="+", type=Path)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=1)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for instance in arguments.instances:
            for repeat in range(arguments.repeat):
                out = Path(folder) / f"{instance.name}-{repeat}"
                print(json.dumps(timed_solve(instance, out, arguments.time_limit)), flush=True)


if __name__ == "__main__":
    main()
