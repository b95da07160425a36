"""Time ``allocator promise`` as whole processes: the available answer, and both against a solve.

    python benchmarks/promise.py [--repeat 3] [--sizes base,M]

Sizes: ``base`` is instances/base-2027; ``M`` is ``allocator generate M --regions 30
--buyers 120 --periods 48 --seed 7`` (about 16k columns), generated into a temporary
folder. Each instance is solved once (untimed) for its plan folder. The new order is 500
racks of trainium for the first internal region, asked for period 3 and allowed two
periods late. Then, ``--repeat`` times, interleaved:

* ``available``: ``allocator promise PLAN ... --available-only --json``;
* ``promise``: ``allocator promise PLAN ... --json`` (both answers: the capable one is
  the whole model solved again with the order);
* ``solve +order``: ``allocator solve`` of the instance with the same order added to its
  orders.csv (the model the capable answer solves, as a plain solve);
* ``solve``: ``allocator solve`` of the instance as it is.

Prints each run and the medians, and the ratios promise / solve +order and promise /
solve (the target: promise within 1.2x a plain solve of the same instance).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOCATOR = [sys.executable, "-m", "allocator"]
CUSTOMER = "aws-us-east-1"
"""The first internal region of every generated instance and of base-2027."""
REQUEST = ["--product", "trainium", "--racks", "500", "--period", "3", "--max-delay", "2"]


def run(args: list[str]) -> float:
    """Wall seconds of one whole ``allocator`` process (it must exit 0)."""
    started = time.perf_counter()
    subprocess.run([*ALLOCATOR, *args], check=True, capture_output=True)
    return time.perf_counter() - started


def instance_of(size: str, folder: Path) -> Path:
    if size == "base":
        return ROOT / "instances" / "base-2027"
    if size == "M":
        target = folder / "M"
        generate = ["--regions", "30", "--buyers", "120", "--periods", "48", "--seed", "7"]
        run(["generate", str(target), *generate])
        return target
    raise SystemExit(f"unknown size {size!r}: base or M")


def with_order(instance: Path, folder: Path, customer: str) -> Path:
    """A copy of ``instance`` with the benchmark's order in orders.csv (at the customer's
    highest trainium price, as promise defaults to)."""
    copy = folder / f"{instance.name}-with-order"
    shutil.copytree(instance, copy)
    with (copy / "orders.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    price = max(
        float(row["price_per_rack"])
        for row in rows
        if row["customer"] == customer and row["product"] == "trainium"
    )
    with (copy / "orders.csv").open("a", newline="", encoding="utf-8") as handle:
        handle.write(f"promise-1,{customer},trainium,3,500,{price},2,0\n")
    return copy


def measure(size: str, repeat: int, folder: Path) -> dict[str, float]:
    instance = instance_of(size, folder)
    plan = folder / f"{size}-plan"
    run(["solve", str(instance), "--out", str(plan), "-q"])
    augmented = with_order(instance, folder, CUSTOMER)
    promise = ["promise", str(plan), "--customer", CUSTOMER, *REQUEST, "--json"]
    commands = {
        "available": [*promise, "--available-only"],
        "promise": promise,
        "solve +order": ["solve", str(augmented), "--out", str(folder / "out-order"), "-q"],
        "solve": ["solve", str(instance), "--out", str(folder / "out"), "-q"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for index in range(repeat):
        for name, args in commands.items():
            seconds = run(args)
            times[name].append(seconds)
            print(f"{size} run {index + 1}: {name} {seconds:.2f} s", flush=True)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="base,M")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as temporary:
        for size in args.sizes.split(","):
            results[size] = measure(size, args.repeat, Path(temporary))
    print(f"\nmedians of {args.repeat} whole-process runs (seconds)")
    print("| instance | available | promise (both) | solve +order | solve | promise / solve +order "
          "| promise / solve |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for size, median in results.items():
        print(
            f"| {size} | {median['available']:.2f} | {median['promise']:.2f} | "
            f"{median['solve +order']:.2f} | {median['solve']:.2f} | "
            f"{median['promise'] / median['solve +order']:.2f}x | "
            f"{median['promise'] / median['solve']:.2f}x |"
        )


if __name__ == "__main__":
    main()
