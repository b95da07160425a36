"""The command line's shared options and the helpers that turn outcomes into exit codes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from allocator.errors import ExitCode
from allocator.limits import MAX_THREADS

if TYPE_CHECKING:
    from allocator.data.instance import Instance

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
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No tables or progress.")]
NoPriorityCostOption = Annotated[
    bool,
    typer.Option(
        "--no-priority-cost",
        help="Under priority_rule = lexicographic, skip the profit-rule solve that prices "
        "the rule (summary.json priority_cost).",
    ),
]


def fail(message: str, code: ExitCode) -> typer.Exit:
    """Print ``message`` to stderr; the `typer.Exit` to raise with ``code``."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def load(instance_path: Path) -> Instance:
    """The validated instance, or exit 2 with every problem listed. (Read without the
    Python API's module, which loads Pyomo: ``validate`` and ``promise --available-only``
    never need it.)"""
    from allocator.data.validate import load_instance
    from allocator.errors import InstanceError

    try:
        return load_instance(instance_path)
    except InstanceError as error:
        raise fail(error.describe(), ExitCode.INVALID) from None


def guard_output(out: Path, instance_path: Path | None, what: str = "--out") -> None:
    """Exit 2 before any work when ``out`` is a folder allocator must not replace."""
    from allocator.atomic import OutputError, check_replaceable, resolve_output

    protected = [instance_path] if instance_path is not None else []
    try:
        check_replaceable(resolve_output(out), protected=protected, what=what)
    except OutputError as error:
        raise fail(f"{error}; nothing written", ExitCode.INVALID) from None


def write_failed(what: Path, error: OSError) -> typer.Exit:
    """Exit 1 for an environment error while writing (full disk, read-only folder)."""
    reason = error.strerror or str(error)
    return fail(
        f"cannot write {what}: {reason}; nothing was written and any earlier result is unchanged",
        ExitCode.ERROR,
    )


WorkersOption = Annotated[
    int | None,
    typer.Option(
        help="Local worker processes (default: one per core; 1 = in this process).", min=1
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(help="Address of a running Dask scheduler to use instead, tcp://HOST:PORT."),
]
