"""The nightly commands: ``allocator nightly`` and ``allocator runs`` (its run store)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from allocator.cli.app import app
from allocator.cli.options import fail, write_failed
from allocator.errors import ExitCode
from allocator.nightly import DEFAULT_STORE

StoreOption = Annotated[
    str,
    typer.Option(
        "--store", help="Run store: sqlite:///FILE (default) or postgresql://USER@HOST/DB."
    ),
]


@app.command()
def nightly(
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML file; its keys are these options.")
    ] = None,
    instance: Annotated[
        Path | None, typer.Option(help="Instance folder or .xlsx refreshed upstream.")
    ] = None,
    store: Annotated[
        str | None, typer.Option(help=f"Run store URL (default {DEFAULT_STORE}).")
    ] = None,
    publish: Annotated[
        Path | None, typer.Option(help="Folder the company reads: the last good plan.")
    ] = None,
    lock: Annotated[
        Path | None,
        typer.Option(
            help="Another lock file to take as well (PUBLISH.lock beside --publish, the "
            "published folder's own lock, is always taken)."
        ),
    ] = None,
    frozen_periods: Annotated[
        int | None,
        typer.Option(
            help="First K periods keep the published shipments where still feasible.", min=0
        ),
    ] = None,
    change_penalty: Annotated[
        float | None,
        typer.Option(help="Cost per rack moved against the published plan after K.", min=0),
    ] = None,
    time_limit: Annotated[
        float | None, typer.Option(help="Seconds HiGHS may run; the best plan is kept.", min=0)
    ] = None,
    mip_gap: Annotated[
        float | None,
        typer.Option(help="Relative MIP gap (default 1e-4); 0 proves optimality.", min=0),
    ] = None,
    threads: Annotated[int | None, typer.Option(help="HiGHS threads (default 1).", min=1)] = None,
    seed: Annotated[int | None, typer.Option(help="HiGHS random seed.")] = None,
    strict: Annotated[
        bool | None, typer.Option("--strict/--no-strict", help="Hard internal min fill.")
    ] = None,
    mip_start: Annotated[
        bool | None,
        typer.Option("--mip-start/--no-mip-start", help="Start HiGHS from the published plan."),
    ] = None,
    log: Annotated[bool | None, typer.Option("--log/--no-log", help="Show HiGHS's log.")] = None,
) -> None:
    """Scheduled run: solve the latest instance, re-check, store, publish atomically.

    Exit codes: 0 published; 2 invalid input or config; 3 infeasible; 4 no acceptable
    plan (the previous one stays published); 75 another run holds the lock; 1 else.
    """
    from allocator.nightly.config import ConfigError, load_config

    options = {
        "instance": instance,
        "store": store,
        "publish": publish,
        "lock": lock,
        "frozen_periods": frozen_periods,
        "change_penalty": change_penalty,
        "time_limit": time_limit,
        "mip_gap": mip_gap,
        "threads": threads,
        "seed": seed,
        "strict": strict,
        "mip_start": mip_start,
        "log": log,
    }
    try:
        settings = load_config(config, options)
    except ConfigError as error:
        raise fail(f"nightly: {error}", ExitCode.INVALID) from None

    from allocator.nightly.run import run_nightly

    outcome = run_nightly(settings, echo=lambda line: typer.echo(line, err=True))
    if outcome.exit_code != ExitCode.OK:
        raise fail(f"nightly: {outcome.message}", outcome.exit_code)
    typer.echo(outcome.message)


runs_app = typer.Typer(no_args_is_help=True, help="Read the nightly run store.")
app.add_typer(runs_app, name="runs")


def _with_store(url: str, action: Any) -> Any:
    """``action(store)`` on the opened run store; a store error is one line, exit 2."""
    from allocator.atomic import OutputError
    from allocator.nightly.store import RunStore, StoreError

    try:
        opened = RunStore(url, create=False)
    except StoreError as error:
        raise fail(str(error), ExitCode.INVALID) from None
    with opened:
        try:
            return action(opened)
        except (StoreError, OutputError) as error:
            raise fail(str(error), ExitCode.INVALID) from None


@runs_app.command("list")
def runs_list(
    store: StoreOption = DEFAULT_STORE,
    limit: Annotated[int, typer.Option(help="Newest N runs.", min=1)] = 20,
) -> None:
    """The newest runs: status, times, objective, gap, racks moved, exit code."""
    from allocator.nightly.runs import runs_frame
    from allocator.outputs.console import print_frame

    frame = _with_store(store, lambda opened: runs_frame(opened, limit))
    print_frame(
        frame,
        f"runs in {store}",
        formats={"gap": lambda value: f"{value:.4%}", "seconds": lambda value: f"{value:.1f}"},
        right_aligned=("id", "seconds"),
    )


@runs_app.command("show")
def runs_show(
    run_id: Annotated[int, typer.Argument(help="Run id (see `runs list`).")],
    store: StoreOption = DEFAULT_STORE,
    log: Annotated[bool, typer.Option("--log", help="Print the run's HiGHS log instead.")] = False,
) -> None:
    """One run: its record and manifest (JSON), its problems; or its HiGHS log."""
    import json

    from allocator.nightly.runs import show_run

    if log:
        text = _with_store(store, lambda opened: opened.run(run_id)["solver_log"])
        typer.echo(text or "(no HiGHS log for this run)")
        return
    record = _with_store(store, lambda opened: show_run(opened, run_id))
    typer.echo(json.dumps(record, indent=2, default=str))


@runs_app.command("diff")
def runs_diff(
    run_a: Annotated[int, typer.Argument(help="Earlier run id.")],
    run_b: Annotated[int, typer.Argument(help="Later run id.")],
    store: StoreOption = DEFAULT_STORE,
    csv: Annotated[bool, typer.Option("--csv", help="Print the table as CSV.")] = False,
) -> None:
    """Racks moved per customer and period from run A to run B, and the objective change."""
    from allocator.nightly.runs import RunsDiff, diff_runs
    from allocator.outputs.console import print_frame

    diff = _with_store(store, lambda opened: diff_runs(opened, run_a, run_b))
    assert isinstance(diff, RunsDiff)
    if csv:
        typer.echo(diff.table.to_csv(index=False, lineterminator="\n"), nl=False)
        return
    print_frame(diff.table, f"run {run_a} -> run {run_b}: racks per customer and period", width=160)
    change = diff.objective_change
    typer.echo(f"racks moved: {diff.racks_moved:,.0f}")
    typer.echo(
        "objective change: "
        + (
            "-"
            if change is None
            else f"{change:+,.2f} ({diff.objective_a:,.2f} -> {diff.objective_b:,.2f})"
        )
    )


@runs_app.command("export")
def runs_export(
    run_id: Annotated[int, typer.Argument(help="Run id (see `runs list`).")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the run's files into.")],
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """A run's stored plan (allocation, surplus, deals), manifest, summary, problems, log."""
    from allocator.nightly.runs import export_run

    try:
        written = _with_store(store, lambda opened: export_run(opened, run_id, out))
    except OSError as error:
        raise write_failed(out, error) from None
    assert isinstance(written, list)
    typer.echo(f"run {run_id} written to {out}: {', '.join(written)}")
