"""``python -m allocator``: the same as the ``allocator`` command."""

from allocator.cli import main

main()
