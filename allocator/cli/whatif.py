"""``allocator whatif``: variants of an instance solved as a sweep (`allocator.whatif`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from allocator.cli.app import app
from allocator.cli.options import (
    InstanceArg,
    MipGapOption,
    RelaxOption,
    SchedulerOption,
    StrictOption,
    ThreadsOption,
    TimeLimitOption,
    WorkersOption,
    fail,
    load,
)
from allocator.errors import ExitCode


@app.command()
def whatif(
    instance_path: InstanceArg,
    out: Annotated[Path, typer.Option("--out", help="Folder for the sweep (resumable).")],
    surplus_scale: Annotated[
        str,
        typer.Option(
            help="Factors on the foundry's surplus wafers in every period, e.g. 0,0.5,1,1.5,2."
        ),
    ] = "1",
    vary: Annotated[
        list[str] | None,
        typer.Option(
            help="policy.KEY=V1,V2 sets a policy value; TABLE.COLUMN=F1,F2 multiplies a column "
            "(counts rounded, values kept in range); delay.PRODUCT=K1,K2 moves the product's "
            "first month and supply K months later (its cost: slip_cost_PRODUCT in "
            "sweep.csv). Repeat for a Cartesian product."
        ),
    ] = None,
    policy_cost: Annotated[
        bool,
        typer.Option(
            "--policy-cost",
            help="Also solve the base without each policy and report what each one costs.",
        ),
    ] = False,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    time_limit: TimeLimitOption = None,
    mip_gap: MipGapOption = 1e-4,
    threads: ThreadsOption = 1,
    relax: RelaxOption = False,
    strict: StrictOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
) -> None:
    """Solve variants of an instance (surplus scale, policies, scaled columns) into --out."""
    from allocator.atomic import OutputError
    from allocator.solver.highs import SolverOptions
    from allocator.solver.pipeline import RunOptions
    from allocator.whatif.console import print_sweep
    from allocator.whatif.executors import SchedulerError
    from allocator.whatif.folder import check_sweep_folder
    from allocator.whatif.run import run_whatif
    from allocator.whatif.spec import (
        SweepSpec,
        WhatifError,
        check_delays,
        check_scheduler_address,
        check_varies,
        parse_surplus_scales,
        parse_vary,
    )

    try:
        varies = tuple(parse_vary(text) for text in vary or [])
        check_varies(varies)
        spec = SweepSpec(parse_surplus_scales(surplus_scale), varies, policy_cost)
        if scheduler is not None:
            check_scheduler_address(scheduler)
        check_sweep_folder(out, instance_path)
    except (WhatifError, OutputError) as error:
        raise fail(str(error), ExitCode.INVALID) from None
    instance = load(instance_path)
    try:
        check_delays(varies, instance)
    except WhatifError as error:
        raise fail(str(error), ExitCode.INVALID) from None
    options = RunOptions(
        SolverOptions(time_limit=time_limit, mip_gap=mip_gap, threads=threads),
        strict=strict,
        relax=relax,
    )
    try:
        report = run_whatif(
            instance,
            str(instance_path),
            out,
            spec,
            options,
            workers=workers or os.cpu_count() or 1,
            scheduler=scheduler,
            show_progress=not quiet,
        )
    except SchedulerError as error:
        raise fail(str(error), ExitCode.ERROR) from None
    except OSError as error:
        raise fail(f"what-if sweep failed: {error}", ExitCode.ERROR) from None
    print_sweep(report, quiet=quiet)
    if report.errors:
        raise fail(
            f"{report.errors} scenario(s) failed with an error (see sweep.csv)", ExitCode.ERROR
        )
