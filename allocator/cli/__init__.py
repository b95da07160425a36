"""The ``allocator`` command: a thin typer layer over the Python API (`allocator.api`),
the what-if sweeps and the nightly run. Importing this package registers every command
on `app`."""

from allocator.cli import nightly, solve, whatif  # noqa: F401  (registers the commands)
from allocator.cli.app import app, main

__all__ = ["app", "main"]
