"""Session-wide fixtures: the throwaway PostgreSQL server of the run-store tests is
stopped when the session ends (tests/stores.py starts it on first use)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stores import stop_server


@pytest.fixture(scope="session", autouse=True)
def _stop_postgres_at_the_end() -> Iterator[None]:
    yield
    stop_server()
