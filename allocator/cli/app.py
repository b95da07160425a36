"""Command line: a thin typer layer, options -> pipeline -> exit code.

Exit codes (`allocator.errors.ExitCode`): 0 a plan was written; 1 anything else (an
environment error such as a full disk, a solver failure); 2 the input is invalid: the
instance, a config file or the command line itself (click's usage errors are 2 too); 3
infeasible (strict mode); 4 no acceptable plan (nightly); 75 another nightly run holds
the lock; 130 interrupted (Ctrl-C). No Python traceback reaches a user: `main` turns
any error the commands do not handle into one line (``ALLOCATOR_TRACEBACK=1`` shows the
traceback, for developers). Heavy imports (Pyomo, HiGHS, pandas) happen inside the
commands so that ``allocator --help`` is instant.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from allocator.errors import ExitCode

EXIT_OK = ExitCode.OK
EXIT_ERROR = ExitCode.ERROR
EXIT_INVALID = ExitCode.INVALID
EXIT_INFEASIBLE = ExitCode.INFEASIBLE

MAX_THREADS = 256
"""Most HiGHS threads (`allocator.solver.highs.MAX_THREADS`; not imported: it pulls HiGHS in)."""
MAX_SEED = 2**31 - 1
"""HiGHS's ``random_seed`` range (`allocator.solver.highs.MAX_SEED`)."""

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Allocate constrained AI-chip rack supply to regions and buyers (Pyomo MIP, HiGHS).",
)

InstanceArg = Annotated[
    Path, typer.Argument(help="Instance folder (instance.toml + CSVs) or .xlsx workbook.")
]


def _finite_seconds(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"must be a finite number of seconds, not {value}")
    return value


def _gap(value: float | None) -> float | None:
    if value is not None and not 0 <= value < 1:
        raise typer.BadParameter(
            f"must be in [0, 1) (a relative gap; 0 proves optimality), not {value}"
        )
    return value


TimeLimitOption = Annotated[
    float | None,
    typer.Option(
        help="Seconds HiGHS may run; the best plan found by then is kept.",
        min=0,
        callback=_finite_seconds,
    ),
]
MipGapOption = Annotated[
    float,
    typer.Option(
        help="Relative MIP gap to stop at, in [0, 1); 0 proves optimality.", callback=_gap
    ),
]
ThreadsOption = Annotated[
    int, typer.Option(help="HiGHS threads (1 = repeatable runs).", min=1, max=MAX_THREADS)
]
RelaxOption = Annotated[
    bool, typer.Option("--relax", help="Solve the LP relaxation (bounds, exact duals).")
]
StrictOption = Annotated[
    bool, typer.Option("--strict", help="Make internal min fill hard (no shortfall).")
]


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _load(instance_path: Path) -> object:
    """The validated instance, or exit 2 with every problem listed."""
    from allocator.data.validate import load_instance
    from allocator.errors import InstanceError

    try:
        return load_instance(instance_path)
    except InstanceError as error:
        raise _fail(error.describe(), EXIT_INVALID) from None


def _guard_output(out: Path, instance_path: Path | None, what: str = "--out") -> None:
    """Exit 2 before any work when ``out`` is a folder allocator must not replace."""
    from allocator.atomic import OutputError, check_replaceable, resolve_output

    protected = [instance_path] if instance_path is not None else []
    try:
        check_replaceable(resolve_output(out), protected=protected, what=what)
    except OutputError as error:
        raise _fail(f"{error}; nothing written", EXIT_INVALID) from None


def _write_failed(what: Path, error: OSError) -> typer.Exit:
    reason = error.strerror or str(error)
    return _fail(
        f"cannot write {what}: {reason}; nothing was written and any earlier result is unchanged",
        EXIT_ERROR,
    )


@app.command()
def solve(
    instance_path: InstanceArg,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the results.")] = None,
    time_limit: TimeLimitOption = None,
    mip_gap: MipGapOption = 1e-4,
    threads: ThreadsOption = 1,
    relax: RelaxOption = False,
    strict: StrictOption = False,
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
    from allocator.atomic import OutputError
    from allocator.data.instance import Instance
    from allocator.errors import InfeasibleError
    from allocator.outputs.result_files import print_summary, write_infeasible, write_result
    from allocator.solver.highs import SolverOptions
    from allocator.solver.pipeline import RunOptions, solve_instance

    if out is None and write_model is None:
        raise _fail("give --out DIR (or --write-model FILE)", EXIT_INVALID)
    if write_model is not None and write_model.suffix.lower() not in (".mps", ".lp"):
        raise _fail("--write-model takes a .mps or .lp file name", EXIT_INVALID)
    if write_model is not None and write_model.is_dir():
        raise _fail(
            f"--write-model {write_model} is a folder; name a .mps or .lp file", EXIT_INVALID
        )
    if out is not None:
        _guard_output(out, instance_path)
    started = time.perf_counter()
    instance = _load(instance_path)
    assert isinstance(instance, Instance)
    read_seconds = time.perf_counter() - started
    options = RunOptions(
        SolverOptions(time_limit=time_limit, mip_gap=mip_gap, threads=threads, log=log),
        strict=strict,
        relax=relax,
    )
    if write_model is not None:
        try:
            _write_model(instance, options, write_model)
        except OSError as error:
            raise _write_failed(write_model, error) from None
        typer.echo(f"model written to {write_model}")
        return
    assert out is not None
    try:
        result = solve_instance(instance, options)
    except InfeasibleError as error:
        try:
            write_infeasible(
                error, instance, options, out, str(instance_path), protected=[instance_path]
            )
        except OSError as write_error:
            raise _write_failed(out, write_error) from None
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
    result.timings["read_validate"] = read_seconds
    try:
        write_result(result, out, str(instance_path), protected=[instance_path])
        if report:
            from allocator.outputs.report import write_report

            write_report(out, instance)
    except OutputError as error:
        raise _fail(f"{error}; nothing written", EXIT_INVALID) from None
    except OSError as error:
        raise _write_failed(out, error) from None
    if not quiet:
        print_summary(result, out)
    _exit_state["skip_teardown"] = True


def _write_model(instance: object, options: object, path: Path) -> None:
    from allocator.model.build import build_model
    from allocator.solver.highs import compile_model, write_model_file
    from allocator.solver.pipeline import RunOptions

    assert isinstance(options, RunOptions)
    model = build_model(instance, options.model_options())  # type: ignore[arg-type]
    write_model_file(compile_model(model), path, integer=not options.relax)


@app.command()
def validate(instance_path: InstanceArg) -> None:
    """Check an instance and list every problem at once."""
    from allocator.data.instance import Instance

    instance = _load(instance_path)
    assert isinstance(instance, Instance)
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
    periods: Annotated[int, typer.Option(help="Monthly periods.", min=1, max=1200)] = 24,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives the same files.", min=0)
    ] = 0,
    name: Annotated[str | None, typer.Option(help="Instance name.")] = None,
) -> None:
    """Write a plausible synthetic instance of any size (a new folder, or one generated
    before: never a folder of other files)."""
    from allocator.atomic import OutputError
    from allocator.data.generate import generate_instance
    from allocator.data.generate_profile import estimate_variables

    try:
        generate_instance(
            out, regions=regions, buyers=buyers, periods=periods, seed=seed, name=name
        )
    except OutputError as error:
        raise _fail(f"{error}; nothing written", EXIT_INVALID) from None
    except OSError as error:
        raise _write_failed(out, error) from None
    typer.echo(
        f"instance written to {out} (about {estimate_variables(regions, buyers, periods):,} "
        "variables)"
    )


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
            "(counts rounded, values kept in range). Repeat for a Cartesian product."
        ),
    ] = None,
    policy_cost: Annotated[
        bool,
        typer.Option(
            "--policy-cost",
            help="Also solve the base without each policy and report what each one costs.",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Local worker processes (default: one per core; 1 = in this process).", min=1
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Address of a running Dask scheduler to use instead, tcp://HOST:PORT."),
    ] = None,
    time_limit: TimeLimitOption = None,
    mip_gap: MipGapOption = 1e-4,
    threads: ThreadsOption = 1,
    relax: RelaxOption = False,
    strict: StrictOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
) -> None:
    """Solve variants of an instance (surplus scale, policies, scaled columns) into --out."""
    from allocator.atomic import OutputError
    from allocator.data.instance import Instance
    from allocator.solver.highs import SolverOptions
    from allocator.solver.pipeline import RunOptions
    from allocator.whatif.console import print_sweep
    from allocator.whatif.executors import SchedulerError
    from allocator.whatif.folder import check_sweep_folder
    from allocator.whatif.run import run_whatif
    from allocator.whatif.spec import (
        SweepSpec,
        WhatifError,
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
        raise _fail(str(error), EXIT_INVALID) from None
    instance = _load(instance_path)
    assert isinstance(instance, Instance)
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
        raise _fail(str(error), EXIT_ERROR) from None
    except OSError as error:
        raise _fail(f"what-if sweep failed: {error}", EXIT_ERROR) from None
    print_sweep(report, quiet=quiet)
    if report.errors:
        raise _fail(f"{report.errors} scenario(s) failed with an error (see sweep.csv)", EXIT_ERROR)


@app.command("report")
def report_command(
    result_dir: Annotated[
        Path, typer.Argument(help="A result folder of solve (or whatif) to report on.")
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
    from allocator.data.validate import load_instance
    from allocator.errors import InstanceError
    from allocator.outputs.report import ReportError, write_report

    instance = None
    if instance_path is not None:
        try:
            instance = load_instance(instance_path)
        except InstanceError as error:
            raise _fail(error.describe(), EXIT_INVALID) from None
    try:
        written = write_report(result_dir, instance)
    except ReportError as error:
        raise _fail(str(error), EXIT_ERROR) from None
    except OSError as error:
        raise _write_failed(result_dir, error) from None
    typer.echo("written: " + ", ".join(str(path) for path in written))


DEFAULT_STORE = "sqlite:///allocator-runs.db"
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
        raise _fail(f"nightly: {error}", EXIT_INVALID) from None

    from allocator.nightly.run import EXIT_PUBLISHED, run_nightly

    outcome = run_nightly(settings, echo=lambda line: typer.echo(line, err=True))
    if outcome.exit_code != EXIT_PUBLISHED:
        raise _fail(f"nightly: {outcome.message}", outcome.exit_code)
    typer.echo(outcome.message)


runs_app = typer.Typer(no_args_is_help=True, help="Read the nightly run store.")
app.add_typer(runs_app, name="runs")


def _open_store(url: str) -> object:
    from allocator.nightly.store import RunStore, StoreError

    try:
        return RunStore(url, create=False)
    except StoreError as error:
        raise _fail(str(error), EXIT_INVALID) from None


@runs_app.command("list")
def runs_list(
    store: StoreOption = DEFAULT_STORE,
    limit: Annotated[int, typer.Option(help="Newest N runs.", min=1)] = 20,
) -> None:
    """The newest runs: status, times, objective, gap, racks moved, exit code."""
    from rich.console import Console
    from rich.table import Table

    from allocator.nightly.runs import runs_frame
    from allocator.nightly.store import RunStore

    opened = _open_store(store)
    assert isinstance(opened, RunStore)
    frame = _run_store_call(store, lambda opened: runs_frame(opened, limit), opened)
    table = Table(title=f"runs in {store}")
    for column in frame.columns:
        table.add_column(column, justify="right" if column in ("id", "seconds") else "left")
    for row in frame.itertuples(index=False):
        table.add_row(
            *(_cell(column, value) for column, value in zip(frame.columns, row, strict=True))
        )
    Console(width=200).print(table)


def _cell(column: str, value: object) -> str:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if column == "gap" and isinstance(value, float):
        return f"{value:.4%}"
    if column == "seconds" and isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, float):
        return f"{value:,.0f}"
    return str(value)


def _run_store_call(store: str, action: Any, opened: object | None = None) -> Any:
    """``action(store)`` on the opened store; a store error is one line, exit 2."""
    from allocator.atomic import OutputError
    from allocator.nightly.store import RunStore, StoreError

    if opened is None:
        opened = _open_store(store)
    assert isinstance(opened, RunStore) and callable(action)
    with opened:
        try:
            return action(opened)
        except (StoreError, OutputError) as error:
            raise _fail(str(error), EXIT_INVALID) from None


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
        text = _run_store_call(store, lambda opened: opened.run(run_id)["solver_log"])
        typer.echo(text or "(no HiGHS log for this run)")
        return
    record = _run_store_call(store, lambda opened: show_run(opened, run_id))
    typer.echo(json.dumps(record, indent=2, default=str))


@runs_app.command("diff")
def runs_diff(
    run_a: Annotated[int, typer.Argument(help="Earlier run id.")],
    run_b: Annotated[int, typer.Argument(help="Later run id.")],
    store: StoreOption = DEFAULT_STORE,
    csv: Annotated[bool, typer.Option("--csv", help="Print the table as CSV.")] = False,
) -> None:
    """Racks moved per customer and period from run A to run B, and the objective change."""
    from rich.console import Console
    from rich.table import Table

    from allocator.nightly.runs import RunsDiff, diff_runs

    diff = _run_store_call(store, lambda opened: diff_runs(opened, run_a, run_b))
    assert isinstance(diff, RunsDiff)
    if csv:
        typer.echo(diff.table.to_csv(index=False, lineterminator="\n"), nl=False)
        return
    table = Table(title=f"run {run_a} -> run {run_b}: racks per customer and period")
    for column in diff.table.columns:
        table.add_column(column)
    for row in diff.table.itertuples(index=False):
        table.add_row(*(f"{v:,.0f}" if isinstance(v, float) else str(v) for v in row))
    console = Console(width=160)
    console.print(table)
    change = diff.objective_change
    console.print(f"racks moved: {diff.racks_moved:,.0f}")
    console.print(
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
        written = _run_store_call(store, lambda opened: export_run(opened, run_id, out))
    except OSError as error:
        raise _write_failed(out, error) from None
    assert isinstance(written, list)
    typer.echo(f"run {run_id} written to {out}: {', '.join(written)}")


_exit_state = {"skip_teardown": False}
"""Set by a `solve` that wrote its plan: the process may end without freeing the model."""

TRACEBACK_VARIABLE = "ALLOCATOR_TRACEBACK"
"""Set (to anything) to see the traceback of an unexpected error instead of one line."""


def main() -> None:
    """The ``allocator`` command: every error a command does not handle itself is one
    line on stderr and exit 1, never a traceback (`TRACEBACK_VARIABLE` shows it); Ctrl-C
    is exit 130. After a successful ``solve`` the interpreter's teardown (freeing every
    Pyomo object one by one: 1.5 s after a 197k-column model) is skipped with
    ``os._exit`` once the output is flushed; the result folder is complete by then."""
    try:
        app()
    except SystemExit as done:
        if done.code == ExitCode.INTERRUPTED:
            typer.echo("allocator: interrupted; no half-written output is left", err=True)
        if done.code not in (0, None) or not _exit_state["skip_teardown"]:
            raise
    except KeyboardInterrupt:
        typer.echo("allocator: interrupted; no half-written output is left", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as error:
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        typer.echo(f"allocator: {_one_line(error)}", err=True)
        sys.exit(ExitCode.ERROR)
    if _exit_state["skip_teardown"]:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _one_line(error: BaseException) -> str:
    """An error as one line: an OS error by its file and reason, anything else by its
    type and first line, with where to find more."""
    if isinstance(error, OSError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror}"
    lines = str(error).strip().splitlines()
    detail = f": {lines[0]}" if lines else ""
    return (
        f"unexpected error ({type(error).__name__}{detail}); "
        f"run again with {TRACEBACK_VARIABLE}=1 for the details"
    )


if __name__ == "__main__":
    main()
