"""Command line: a thin typer layer, options -> pipeline -> exit code.

Exit codes (SPEC.md): 0 a plan was written; 2 the instance is invalid; 3 infeasible
(strict mode); 1 anything else. Heavy imports (Pyomo, HiGHS, pandas) happen inside the
commands so that ``allocator --help`` is instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INVALID = 2
EXIT_INFEASIBLE = 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Allocate constrained AI-chip rack supply to regions and buyers (Pyomo MIP, HiGHS).",
)

InstanceArg = Annotated[
    Path, typer.Argument(help="Instance folder (instance.toml + CSVs) or .xlsx workbook.")
]


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@app.command()
def solve(
    instance_path: InstanceArg,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the results.")] = None,
    time_limit: Annotated[
        float | None,
        typer.Option(help="Seconds HiGHS may run; the best plan found is kept.", min=0),
    ] = None,
    mip_gap: Annotated[
        float, typer.Option(help="Relative MIP gap to stop at; 0 proves optimality.", min=0)
    ] = 1e-4,
    threads: Annotated[int, typer.Option(help="HiGHS threads (1 = repeatable runs).", min=1)] = 1,
    relax: Annotated[
        bool, typer.Option("--relax", help="Solve the LP relaxation (bounds, exact duals).")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Make internal min fill hard (no shortfall).")
    ] = False,
    write_model: Annotated[
        Path | None,
        typer.Option("--write-model", help="Export the model (.mps or .lp) and stop, no solve."),
    ] = None,
    log: Annotated[bool, typer.Option("--log", help="Show HiGHS's log.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary table.")] = False,
) -> None:
    """Solve an instance and write the plan into --out."""
    from allocator.errors import InfeasibleError, InstanceError
    from allocator.pipeline import RunOptions, solve_instance
    from allocator.report import print_summary, write_infeasible, write_result
    from allocator.solve import SolverOptions
    from allocator.validate import load_instance

    if out is None and write_model is None:
        raise _fail("give --out DIR (or --write-model FILE)", EXIT_ERROR)
    if write_model is not None and write_model.suffix.lower() not in (".mps", ".lp"):
        raise _fail("--write-model takes a .mps or .lp file name", EXIT_ERROR)
    try:
        instance = load_instance(instance_path)
    except InstanceError as error:
        raise _fail(error.describe(), EXIT_INVALID) from None
    options = RunOptions(
        SolverOptions(time_limit=time_limit, mip_gap=mip_gap, threads=threads, log=log),
        strict=strict,
        relax=relax,
    )
    if write_model is not None:
        _write_model(instance, options, write_model)
        typer.echo(f"model written to {write_model}")
        return
    assert out is not None
    try:
        result = solve_instance(instance, options)
    except InfeasibleError as error:
        write_infeasible(error, instance, options, out, str(instance_path))
        raise _fail(str(error), EXIT_INFEASIBLE) from None
    if result.plan is None:
        raise _fail(
            f"no plan: HiGHS stopped with status {result.status} and no incumbent", EXIT_ERROR
        )
    if result.violations:
        raise _fail(
            "the plan fails its own check, not written:\n  " + "\n  ".join(result.violations),
            EXIT_ERROR,
        )
    write_result(result, out, str(instance_path))
    if not quiet:
        print_summary(result, out)


def _write_model(instance: object, options: object, path: Path) -> None:
    from allocator.model import build_model
    from allocator.pipeline import RunOptions
    from allocator.solve import compile_model, write_model_file

    assert isinstance(options, RunOptions)
    model = build_model(instance, options.model_options())  # type: ignore[arg-type]
    write_model_file(compile_model(model), path, integer=not options.relax)


@app.command()
def validate(instance_path: InstanceArg) -> None:
    """Check an instance and list every problem at once."""
    from allocator.errors import InstanceError
    from allocator.validate import load_instance

    try:
        instance = load_instance(instance_path)
    except InstanceError as error:
        raise _fail(error.describe(), EXIT_INVALID) from None
    typer.echo(
        f"{instance_path}: valid ({len(instance.products)} products, "
        f"{len(instance.customers)} customers, {len(instance.orders)} orders, "
        f"{instance.periods} periods)"
    )


@app.command()
def generate(
    out: Annotated[Path, typer.Argument(help="Folder to write the instance into.")],
    regions: Annotated[int, typer.Option(help="Internal cloud regions.", min=1)] = 12,
    buyers: Annotated[int, typer.Option(help="Third-party buyers.", min=0)] = 30,
    periods: Annotated[int, typer.Option(help="Monthly periods.", min=1)] = 24,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 0,
    name: Annotated[str | None, typer.Option(help="Instance name.")] = None,
) -> None:
    """Write a plausible synthetic instance of any size."""
    from allocator.generate import estimate_variables, generate_instance

    generate_instance(out, regions=regions, buyers=buyers, periods=periods, seed=seed, name=name)
    typer.echo(
        f"instance written to {out} (about {estimate_variables(regions, buyers, periods):,} "
        "variables)"
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
