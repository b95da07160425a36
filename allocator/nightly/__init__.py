"""The scheduled nightly run: solve, re-check, store and publish, keeping plans stable.

Modules: run, config, baseline, recheck, recovery, lock, store, runs."""

DEFAULT_STORE = "sqlite:///allocator-runs.db"
"""The run store when none is given: a SQLite file in the working folder."""
