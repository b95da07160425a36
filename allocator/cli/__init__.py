"""The ``allocator`` command, a thin typer layer; importing it registers every command.

The commands are built on the Python API (`allocator.api`), the what-if sweeps, the
nightly run and promising (`allocator.promising`)."""

from allocator.cli import nightly, promise, solve, whatif  # noqa: F401  (registers the commands)
from allocator.cli.app import app, main

__all__ = ["app", "main"]
