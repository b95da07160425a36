"""The ``allocator`` command, a thin typer layer; importing it registers every command.

The commands are built on the Python API (`allocator.api`), the what-if sweeps, the
nightly run, promising (`allocator.promising`) and two-stage plans
(`allocator.stochastic`)."""

from allocator.cli import (  # noqa: F401  (registers the commands)
    nightly,
    promise,
    solve,
    stochastic,
    whatif,
)
from allocator.cli.app import app, main

__all__ = ["app", "main"]
