"""The ``allocator`` command: the typer application and `main`, its entry point.

Exit codes (`allocator.errors.ExitCode`): 0 a plan was written; 1 anything else (an
environment error such as a full disk, a solver failure); 2 the input is invalid: the
instance, a config file or the command line itself (click's usage errors are 2 too); 3
infeasible (strict mode); 4 no acceptable plan (nightly); 75 another nightly run holds
the lock; 130 interrupted (Ctrl-C). No Python traceback reaches a user: `main` turns
any error the commands do not handle into one line (``ALLOCATOR_TRACEBACK=1`` shows the
traceback, for developers). Heavy imports (Pyomo, HiGHS, pandas) happen inside the
commands so that ``allocator --help`` is instant. The commands are in
`allocator.cli.solve`, `allocator.cli.whatif` and `allocator.cli.nightly`.
"""

from __future__ import annotations

import os
import sys

import typer

from allocator.errors import ExitCode

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Allocate constrained AI-chip rack supply to regions and buyers (Pyomo MIP, HiGHS).",
)


_exit_state = {"skip_teardown": False, "process_ends": False}
"""``skip_teardown``: set by a `solve` that wrote its plan: the process may end without
freeing the model. ``process_ends``: set by `main`: the command is the process's whole
work (not a call of `app` inside another program, as in the tests)."""


def skip_teardown() -> None:
    """Let `main` end the process without the interpreter's teardown (the outputs are
    complete; freeing every Pyomo object one by one would only cost time)."""
    _exit_state["skip_teardown"] = True


def process_ends() -> bool:
    """Whether the process ends with this command (`main`), rather than `app` being
    called inside another program (as in the tests)."""
    return _exit_state["process_ends"]


TRACEBACK_VARIABLE = "ALLOCATOR_TRACEBACK"
"""Set (to anything) to see the traceback of an unexpected error instead of one line."""


def main() -> None:
    """The ``allocator`` command: every error a command does not handle itself is one
    line on stderr and exit 1, never a traceback (`TRACEBACK_VARIABLE` shows it); Ctrl-C
    is exit 130. After a successful ``solve`` the interpreter's teardown (freeing every
    Pyomo object one by one: 1.5 s after a 197k-column model) is skipped with
    ``os._exit`` once the output is flushed; the result folder is complete by then."""
    _exit_state["process_ends"] = True
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
