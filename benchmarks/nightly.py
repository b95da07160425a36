"""Time a nightly run cold (fresh store, nothing published) and warm (the next run, which
starts HiGHS from the published plan), each as a whole `allocator nightly` process.

    python benchmarks/nightly.py instances/base-2027 [--repeat 3] [-- NIGHTLY OPTIONS...]

Each repeat uses a fresh temporary store and published folder. Prints one line per run:
process wall time, the run's own total (from its manifest), HiGHS's time, status, gap,
objective and which MIP start HiGHS got; then the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def nightly_run(instance: Path, folder: Path, options: list[str]) -> dict[str, object]:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "allocator",
            "nightly",
            "--instance",
            str(instance),
            "--publish",
            str(folder / "plan"),
            "--store",
            f"sqlite:///{folder / 'runs.db'}",
            *options,
        ],
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - started
    manifest = json.loads((folder / "plan" / "manifest.json").read_text())
    solve = manifest["solve"]
    return {
        "wall": wall,
        "total": manifest["timings_seconds"]["total"],
        "highs": solve["timings_seconds"]["highs"],
        "status": solve["status"],
        "gap": solve["mip_gap"],
        "objective": solve["objective"],
        "start": manifest["stability"].get("mip_start", "none (cold)"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instance", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.options = argv[split + 1 :]
    times: dict[str, list[float]] = {"cold": [], "warm": []}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as temporary:
            for kind in ("cold", "warm"):
                run = nightly_run(args.instance, Path(temporary), args.options)
                times[kind].append(float(run["wall"]))  # type: ignore[arg-type]
                print(
                    f"{kind}: wall {run['wall']:.2f} s, run {run['total']:.2f} s, "
                    f"HiGHS {run['highs']:.2f} s, {run['status']}, gap {run['gap']:.2e}, "
                    f"objective {run['objective']:,.0f}, start {run['start']}",
                    flush=True,
                )
    for kind, values in times.items():
        print(f"median {kind}: {statistics.median(values):.2f} s wall over {len(values)} runs")


if __name__ == "__main__":
    main()
