"""``allocator stochastic`` (a two-stage plan) and ``allocator scenarios`` (its scenario file)."""

from __future__ import annotations

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
    write_failed,
)
from allocator.errors import ExitCode

FIRST_STAGES = {"surplus": False, "surplus,deals": True, "deals,surplus": True}


@app.command()
def stochastic(
    instance_path: InstanceArg,
    scenarios: Annotated[
        Path,
        typer.Option("--scenarios", help="scenarios.csv: scenario, probability, target, value."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the two-stage plan (resumable).")],
    first_stage: Annotated[
        str,
        typer.Option(
            "--first-stage",
            help="Decided before the scenario is known: surplus, or surplus,deals.",
        ),
    ] = "surplus",
    method: Annotated[
        str,
        typer.Option(
            help="The recourse problem as one MIP (extensive) or by scenario decomposition "
            "(decomposition: one-scenario solves on the workers, with a bound and a gap)."
        ),
    ] = "extensive",
    iterations: Annotated[
        int, typer.Option(help="Most iterations of --method decomposition.", min=1, max=1000)
    ] = 10,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    time_limit: TimeLimitOption = None,
    mip_gap: MipGapOption = 1e-4,
    threads: ThreadsOption = 1,
    relax: RelaxOption = False,
    strict: StrictOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary.")] = False,
) -> None:
    """Commit foundry surplus before demand is known: a two-stage plan over scenarios."""
    from allocator.atomic import OutputError
    from allocator.solver.highs import SolverOptions
    from allocator.solver.pipeline import RunOptions
    from allocator.stochastic.console import print_two_stage
    from allocator.stochastic.folder import check_stochastic_folder
    from allocator.stochastic.run import default_workers, run_stochastic
    from allocator.stochastic.scenario_file import ScenarioFileError, read_scenarios
    from allocator.whatif.executors import SchedulerError
    from allocator.whatif.spec import WhatifError, check_scheduler_address

    deals = FIRST_STAGES.get(first_stage.replace(" ", ""))
    if deals is None:
        raise fail(
            f"--first-stage {first_stage!r}: give surplus or surplus,deals", ExitCode.INVALID
        )
    from allocator.stochastic.run import METHODS

    if method not in METHODS:
        raise fail(f"--method {method!r}: give {' or '.join(METHODS)}", ExitCode.INVALID)
    if method != METHODS[0] and deals:
        raise fail(
            "--method decomposition decides the surplus first only: drop --first-stage "
            "surplus,deals or use --method extensive",
            ExitCode.INVALID,
        )
    try:
        if scheduler is not None:
            check_scheduler_address(scheduler)
        check_stochastic_folder(out, instance_path, scenarios)
    except (WhatifError, OutputError) as error:
        raise fail(f"{error}; nothing written", ExitCode.INVALID) from None
    try:
        scenario_set = read_scenarios(scenarios)
    except ScenarioFileError as error:
        raise fail(error.describe(), ExitCode.INVALID) from None
    instance = load(instance_path)
    if instance.policy.is_lexicographic:
        raise fail(
            f"{instance_path}: policy.priority_rule is lexicographic; a two-stage plan is solved "
            'under the profit rule only (set priority_rule = "profit" for it); nothing written',
            ExitCode.INVALID,
        )
    options = RunOptions(
        SolverOptions(time_limit=time_limit, mip_gap=mip_gap, threads=threads),
        strict=strict,
        relax=relax,
    )

    def progress(job: object, row: dict, solved: bool) -> None:
        if not quiet:
            what = "solved" if solved else "already done"
            label = getattr(job, "label", str(job))
            typer.echo(f"{label}: {row.get('status')} ({what})", err=True)

    try:
        report = run_stochastic(
            instance,
            str(instance_path),
            out,
            scenario_set,
            options,
            deals=deals,
            workers=workers or default_workers(),
            scheduler=scheduler,
            on_done=progress,
            method=method,
            iterations=iterations,
        )
    except SchedulerError as error:
        raise fail(str(error), ExitCode.ERROR) from None
    except OutputError as error:
        raise fail(f"{error}; nothing written", ExitCode.INVALID) from None
    except OSError as error:
        raise write_failed(out, error) from None
    print_two_stage(report, quiet=quiet)
    recourse = report.record.get("recourse") or {}
    if recourse.get("status") == "infeasible":
        raise fail(
            f"the two-stage plan is infeasible (strict mode): {recourse.get('message', '')}",
            ExitCode.INFEASIBLE,
        )
    if report.errors or report.record.get("rp") is None:
        raise fail(
            f"{report.errors} solve(s) failed (see {out / 'scenario_results.csv'})",
            ExitCode.ERROR,
        )


@app.command("scenarios")
def scenarios_command(
    out: Annotated[Path, typer.Argument(help="The scenarios.csv to write.")],
    demand: Annotated[
        str | None, typer.Option(help="Factor range on orders.racks, LOW:HIGH (e.g. 0.8:1.2).")
    ] = None,
    wafers: Annotated[
        str | None,
        typer.Option(help="Factor range on foundry.surplus_wafers, LOW:HIGH (e.g. 0.5:1.5)."),
    ] = None,
    prices: Annotated[
        str | None, typer.Option(help="Factor range on orders.price_per_rack, LOW:HIGH.")
    ] = None,
    vary: Annotated[
        list[str] | None,
        typer.Option(
            help="Any other range: TABLE.COLUMN=LOW:HIGH (a factor) or policy.KEY=LOW:HIGH "
            "(values). Repeat for more."
        ),
    ] = None,
    levels: Annotated[
        int, typer.Option(help="Values per range (3: low, middle, high).", min=1, max=100)
    ] = 3,
    probabilities: Annotated[
        str | None,
        typer.Option(help="Probability of each level, e.g. 0.25,0.5,0.25 (default: equal)."),
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(
            help="Draw this many scenarios uniformly in the ranges instead of levels "
            "(probability 1/count each).",
            min=1,
            max=10_000,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of --count: the same seed, the same file.")] = 0,
) -> None:
    """Write a scenarios.csv from ranges (levels with probabilities, or --count draws)."""
    from allocator.atomic import OutputError
    from allocator.stochastic.generate import (
        ScenarioRangeError,
        level_probabilities,
        level_rows,
        parse_range,
        sampled_rows,
        write_scenarios,
    )

    try:
        ranges = [
            parse_range(label, text)
            for label, text in (("demand", demand), ("wafers", wafers), ("prices", prices))
            if text is not None
        ]
        for item in vary or []:
            name, equals, text = item.partition("=")
            if not equals:
                raise ScenarioRangeError(f"--vary {item!r}: write TABLE.COLUMN=LOW:HIGH")
            ranges.append(parse_range(name.strip(), text.strip()))
        if not ranges:
            raise ScenarioRangeError(
                "give at least one range: --demand, --wafers, --prices, --vary"
            )
        if count is not None:
            rows = sampled_rows(ranges, count, seed)
        else:
            given = None
            if probabilities is not None:
                try:
                    given = [float(part) for part in probabilities.split(",")]
                except ValueError:
                    raise ScenarioRangeError(
                        f"--probabilities {probabilities!r}: write numbers like 0.25,0.5,0.25"
                    ) from None
            rows = level_rows(ranges, levels, level_probabilities(levels, given))
        write_scenarios(out, rows)
    except ScenarioRangeError as error:
        raise fail(str(error), ExitCode.INVALID) from None
    except OutputError as error:
        raise fail(f"{error}; nothing written", ExitCode.INVALID) from None
    except OSError as error:
        raise write_failed(out, error) from None
    scenarios = len({row[0] for row in rows})
    typer.echo(f"{scenarios} scenarios written to {out}")
