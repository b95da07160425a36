"""The ``allocator`` command: a thin typer layer over the Python API (`allocator.api`)."""

from allocator.cli.app import app, main

__all__ = ["app", "main"]
