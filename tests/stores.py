"""Store URLs for tests: SQLite always; PostgreSQL on a throwaway server that the suite
starts itself (scripts/start-postgres.sh) wherever PostgreSQL's server binaries are
installed, or on the server ALLOCATOR_TEST_POSTGRES_URL names. Each PostgreSQL test gets
a database of its own, dropped afterwards; the server stops with the test session."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from allocator.nightly.store import engine_url

ROOT = Path(__file__).resolve().parents[1]
URL_VARIABLE = "ALLOCATOR_TEST_POSTGRES_URL"


def _server_binaries() -> bool:
    """Whether PostgreSQL's server (initdb, pg_ctl) is installed where Debian puts it."""
    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or bool(shutil.which("initdb"))


HAS_POSTGRES = bool(os.environ.get(URL_VARIABLE)) or _server_binaries()
needs_postgres = pytest.mark.skipif(
    not HAS_POSTGRES,
    reason="PostgreSQL's server binaries are not installed: install them (Debian: "
    "apt-get install postgresql) and the tests start a throwaway server, or set "
    f"{URL_VARIABLE} to a server's URL",
)
STORE_KINDS = ["sqlite", pytest.param("postgresql", marks=needs_postgres)]

_server: dict[str, str] = {}
"""The throwaway server this session started: its ``url`` and data ``dir``."""


def server_url() -> str:
    """The PostgreSQL server of this test session (started on first use)."""
    if os.environ.get(URL_VARIABLE):
        return os.environ[URL_VARIABLE]
    if "url" not in _server:
        started = subprocess.run(
            ["bash", str(ROOT / "scripts" / "start-postgres.sh"), "--no-install"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if started.returncode != 0:
            pytest.fail(f"could not start PostgreSQL:\n{started.stderr}")
        for line in started.stdout.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            if name == URL_VARIABLE:
                _server["url"] = value
            elif name == "ALLOCATOR_TEST_POSTGRES_DIR":
                _server["dir"] = value
    return _server["url"]


def stop_server() -> None:
    """Stop the server `server_url` started, if any."""
    if "dir" in _server:
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "stop-postgres.sh"), _server["dir"]],
            capture_output=True,
            timeout=120,
        )
        _server.clear()


@contextmanager
def store_url(kind: str, folder: Path) -> Iterator[str]:
    """A URL of an empty store of ``kind`` (``sqlite`` or ``postgresql``)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'runs.db'}"
        return
    name = f"allocator_test_{uuid.uuid4().hex[:12]}"
    server_address = server_url()
    server = sa.create_engine(engine_url(server_address), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = make_url(server_address).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()
