"""Build and hand-off with substitutes: do they grow no faster than the columns?

    python benchmarks/substitutes.py [--sizes M,L] [--share 0.5] [--repeat 3]

For each size (`run.py`'s, seed 7) an instance is generated twice into a temporary
folder, without substitutes and with ``--share`` of the orders given the other
generation (`allocator generate --substitutes`), and in this one process (after a
warm-up) the model is built (Pyomo) and handed to HiGHS's arrays (`compile_model`)
``--repeat`` times. Printed per instance: columns, rows, the median build and hand-off
seconds, and both per 100k columns, so that the two can be compared: with substitutes
the model has more columns (one per order, product and period of the window), and the
issue asks that build and hand-off grow no faster than they do.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from run import SIZES  # noqa: E402


def measure(folder: Path, repeat: int) -> dict[str, float]:
    from allocator.data.validate import load_instance
    from allocator.model.build import ModelOptions, build_model
    from allocator.solver.highs import compile_model

    instance = load_instance(folder)
    builds, hand_offs = [], []
    columns = rows = 0
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        model = build_model(instance, ModelOptions())
        builds.append(time.perf_counter() - started)
        compiled = compile_model(model)
        hand_offs.append(compiled.compile_seconds)
        columns, rows = int(compiled.lp.num_col_), int(compiled.lp.num_row_)
        del model, compiled
    return {
        "columns": columns,
        "rows": rows,
        "build": statistics.median(builds),
        "hand_off": statistics.median(hand_offs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="M,L")
    parser.add_argument("--share", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from allocator.data.generate import generate_instance

    print(
        "| size | substitutes | columns | rows | build (s) | hand-off (s) "
        "| build per 100k columns | hand-off per 100k columns |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes.split(","):
            regions, buyers, periods = SIZES[size]
            for share in (0.0, args.share):
                folder = Path(scratch) / f"{size}-{share}"
                generate_instance(
                    folder, regions=regions, buyers=buyers, periods=periods, seed=7,
                    substitute_share=share,
                )  # fmt: skip
                found = measure(folder, args.repeat)
                per = 1e5 / found["columns"]
                print(
                    f"| {size} | {share:g} | {found['columns']:,.0f} | {found['rows']:,.0f} "
                    f"| {found['build']:.2f} | {found['hand_off']:.2f} "
                    f"| {found['build'] * per:.2f} | {found['hand_off'] * per:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
