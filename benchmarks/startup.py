"""The fixed cost of an ``allocator solve`` process before it reads anything.

    python benchmarks/startup.py [--repeat 7]

Each figure is the median over ``--repeat`` fresh interpreters (a child process each):

* ``imports``: ``import allocator.api`` and the modules a solve writes with, after the
  command line package (what `allocator.cli.solve` imports inside the command);
* ``dispatch``: from calling the typer application with a ``solve`` command line to the
  first line of the command's body (typer parsing and converting the parameters; the
  body is stopped there, nothing is read).

allocator's bytecode is compiled first, as any installation has it.
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
started = time.perf_counter()
import allocator.cli.app
imported_cli = time.perf_counter()
import allocator.api, allocator.outputs.result_files, allocator.data.validate
imported = time.perf_counter()
solve_module = sys.modules["allocator.cli.solve"]
class Reached(Exception):
    pass
def reached(*args, **kwargs):
    raise Reached
solve_module.guard_output = reached  # the body's first call after its imports
app = sys.modules["allocator.cli.app"].app
dispatch = time.perf_counter()
try:
    app(["solve", sys.argv[1], "--out", sys.argv[2], "-q", "--relax"], standalone_mode=False)
except Reached:
    pass
done = time.perf_counter()
print(json.dumps({"cli_import": imported_cli - started, "imports": imported - imported_cli,
                  "dispatch": done - dispatch}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "allocator", quiet=1)
    instance = ROOT / "instances" / "base-2027"
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", CHILD, str(instance), str(ROOT / "results" / "startup")],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(args.repeat)
    ]
    import typer  # the version measured

    print(f"typer {typer.__version__}, median of {args.repeat} processes:")
    for name in ("cli_import", "imports", "dispatch"):
        print(f"  {name}: {statistics.median(run[name] for run in runs):.3f} s")


if __name__ == "__main__":
    main()
