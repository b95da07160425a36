"""The commands of one instance: ``solve``, ``validate``, ``generate`` and ``report``.

``solve`` is built on the Python API (`allocator.api`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from allocator.cli.app import app, process_ends, skip_teardown
from allocator.cli.options import (
    InstanceArg,
    MipGapOption,
    NoPriorityCostOption,
    RelaxOption,
    StrictOption,
    ThreadsOption,
    TimeLimitOption,
    fail,
    guard_output,
    load,
    write_failed,
)
from allocator.data.schema import MAX_PERIODS
from allocator.errors import ExitCode


@app.command()
def solve(
    instance_path: InstanceArg,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the results.")] = None,
    time_limit: TimeLimitOption = None,
    mip_gap: MipGapOption = 1e-4,
    threads: ThreadsOption = 1,
    relax: RelaxOption = False,
    strict: StrictOption = False,
    no_priority_cost: NoPriorityCostOption = False,
    write_model: Annotated[
        Path | None,
        typer.Option("--write-model", help="Export the model (.mps or .lp) and stop, no solve."),
    ] = None,
    log: Annotated[bool, typer.Option("--log", help="Show HiGHS's log.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary table.")] = False,
    report: Annotated[
        bool, typer.Option("--report", help="Also write report.html and plan.xlsx into --out.")
    ] = False,
) -> None:
    """Solve an instance and write the plan into --out."""
    from allocator.solver.memory import gc_paused

    # The cyclic collector is paused from the imports to the written output, and stays
    # so where the process ends here: nothing made here is garbage before then but the
    # dropped model, which is freed while HiGHS runs where that is worth it
    # (`allocator.solver.memory.worth_freeing`); its automatic runs walked the live
    # instance and model for nothing (0.4 s of a 79,681-column `--relax`, 0.05 s of the
    # imports).
    with gc_paused(stay_paused=process_ends()):
        from allocator.api import solve as solve_api
        from allocator.atomic import OutputError
        from allocator.errors import NoPlanError, PlanCheckError

        if out is None and write_model is None:
            raise fail("give --out DIR (or --write-model FILE)", ExitCode.INVALID)
        if write_model is not None:
            _export_model(instance_path, write_model, strict=strict, relax=relax)
            return
        assert out is not None
        guard_output(out, instance_path)
        # a time limit counts from here: reading and building the model are part of it
        clock_started = time.monotonic()
        started = time.perf_counter()
        instance = load(instance_path)
        read_seconds = time.perf_counter() - started
        result = solve_api(
            instance,
            time_limit=time_limit,
            mip_gap=mip_gap,
            threads=threads,
            strict=strict,
            relax=relax,
            log=log,
            priority_cost=not no_priority_cost,
            clock_started=clock_started,
        )
        if result.solved is not None:
            result.solved.timings["read_validate"] = read_seconds
        try:
            result.write(out)
            if report and result.has_plan:
                from allocator.outputs.report import write_report

                write_report(out, instance)
        except (NoPlanError, PlanCheckError) as error:
            raise fail(str(error), ExitCode.ERROR) from None
        except OutputError as error:
            raise fail(f"{error}; nothing written", ExitCode.INVALID) from None
        except OSError as error:
            raise write_failed(out, error) from None
        if result.infeasible is not None:
            raise fail(str(result.infeasible), ExitCode.INFEASIBLE)
        if not quiet and result.solved is not None:
            from allocator.outputs.console import print_summary

            print_summary(result.solved, out)
    skip_teardown()


def _export_model(instance_path: Path, path: Path, *, strict: bool, relax: bool) -> None:
    """``--write-model``: the built model as .mps or .lp, no solve."""
    from allocator.model.build import ModelOptions, build_model
    from allocator.solver.highs import compile_model, write_model_file

    if path.suffix.lower() not in (".mps", ".lp"):
        raise fail("--write-model takes a .mps or .lp file name", ExitCode.INVALID)
    if path.is_dir():
        raise fail(f"--write-model {path} is a folder; name a .mps or .lp file", ExitCode.INVALID)
    instance = load(instance_path)
    model = build_model(instance, ModelOptions(strict=strict, relax=relax))
    try:
        write_model_file(compile_model(model), path, integer=not relax)
    except OSError as error:
        raise write_failed(path, error) from None
    typer.echo(f"model written to {path}")


@app.command()
def validate(instance_path: InstanceArg) -> None:
    """Check an instance and list every problem at once."""
    instance = load(instance_path)
    typer.echo(
        f"{instance_path}: valid ({len(instance.products)} products, "
        f"{len(instance.customers)} customers, {len(instance.orders)} orders, "
        f"{instance.periods} periods)"
    )


@app.command()
def generate(
    out: Annotated[Path, typer.Argument(help="Folder to write the instance into.")],
    regions: Annotated[int, typer.Option(help="Internal cloud regions.", min=1, max=100_000)] = 12,
    buyers: Annotated[int, typer.Option(help="Third-party buyers.", min=0, max=1_000_000)] = 30,
    periods: Annotated[int, typer.Option(help="Monthly periods.", min=1, max=MAX_PERIODS)] = 24,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives the same files.", min=0)
    ] = 0,
    name: Annotated[str | None, typer.Option(help="Instance name.")] = None,
    substitutes: Annotated[
        float,
        typer.Option(
            help="Share of orders (0..1) that may also take the other generation, with longer "
            "windows so that waiting for Trainium4 is a real choice (substitutes.csv).",
            min=0.0,
            max=1.0,
        ),
    ] = 0.0,
) -> None:
    """Write a plausible synthetic instance of any size (a new folder, or one generated
    before: never a folder of other files)."""
    from allocator.atomic import OutputError
    from allocator.data.generate import generate_instance
    from allocator.data.generate_profile import estimate_variables

    try:
        generate_instance(
            out,
            regions=regions,
            buyers=buyers,
            periods=periods,
            seed=seed,
            name=name,
            substitute_share=substitutes,
        )
    except OutputError as error:
        raise fail(f"{error}; nothing written", ExitCode.INVALID) from None
    except OSError as error:
        raise write_failed(out, error) from None
    typer.echo(
        f"instance written to {out} (about {estimate_variables(regions, buyers, periods):,} "
        "variables)"
    )


@app.command("report")
def report_command(
    result_dir: Annotated[
        Path, typer.Argument(help="A result folder of solve, whatif or stochastic to report on.")
    ],
    instance_path: Annotated[
        Path | None,
        typer.Option(
            "--instance",
            help="The solved instance, if summary.json's instance.source is not at hand "
            "(needed only when customers.csv has no why_short column).",
        ),
    ] = None,
) -> None:
    """Write report.html (charts, tables, why each buyer is short) and plan.xlsx."""
    from allocator.outputs.report import ReportError, write_report

    instance = load(instance_path) if instance_path is not None else None
    try:
        written = write_report(result_dir, instance)
    except ReportError as error:
        raise fail(str(error), ExitCode.ERROR) from None
    except OSError as error:
        raise write_failed(result_dir, error) from None
    typer.echo("written: " + ", ".join(str(path) for path in written))
