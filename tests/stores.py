"""Store URLs for tests: SQLite always; PostgreSQL when ALLOCATOR_TEST_POSTGRES_URL names a
server (scripts/start-postgres.sh starts one and prints it). Each PostgreSQL test gets a
database of its own, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from allocator.nightly.store import engine_url

POSTGRES_URL = os.environ.get("ALLOCATOR_TEST_POSTGRES_URL", "")
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="ALLOCATOR_TEST_POSTGRES_URL is not set (scripts/start-postgres.sh)"
)
STORE_KINDS = ["sqlite", pytest.param("postgresql", marks=needs_postgres)]


@contextmanager
def store_url(kind: str, folder: Path) -> Iterator[str]:
    """A URL of an empty store of ``kind`` (``sqlite`` or ``postgresql``)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'runs.db'}"
        return
    name = f"allocator_test_{uuid.uuid4().hex[:12]}"
    server = sa.create_engine(engine_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = make_url(POSTGRES_URL).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()
