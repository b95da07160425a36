"""The ranges of the solver options every command and config file accepts.

One place for the CLI (which must not import HiGHS to show --help), the nightly config
and the solver."""

from __future__ import annotations

MAX_THREADS = 256
"""Most HiGHS threads (a typo like 1e20 is refused, not passed on)."""
MAX_SEED = 2**31 - 1
"""HiGHS's ``random_seed`` takes 0..2^31 - 1."""
DEFAULT_SEED = 20270101
"""HiGHS random seed: fixed so the same instance and options give the same plan."""
