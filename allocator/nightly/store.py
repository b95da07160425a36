"""The run store: every nightly run, its plan rows and its problems, in SQLite or PostgreSQL.

One schema (SQLAlchemy Core 2.x) serves both: ``sqlite:///allocator-runs.db`` (embedded,
the default) and ``postgresql://USER@HOST:PORT/DB`` (run through psycopg 3; the URL is
mapped to ``postgresql+psycopg://``). Tables:

``runs`` (one row per run), the plan rows of every run that had one and its problems
(`allocator.nightly.store_tables`).

A run row is inserted as ``running`` when the run starts (its own transaction, so a run
killed later leaves a visible trace) and finished in one transaction together with its
plan rows and problems (`finish_run`). Statuses: ``running``, ``stored`` (plan committed,
outputs not yet published), ``published``, ``invalid``, ``infeasible``, ``no_plan``,
``rejected`` (the plan failed its re-check), ``failed`` (an error), ``abandoned`` (a
``running`` or ``stored`` row whose process died).

Nothing here knows the model, the lock or the files: this module stores and reads rows.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from allocator.nightly.store_tables import (
    ABANDONED,
    FAILED,
    INFEASIBLE,
    INVALID,
    NO_PLAN,
    PUBLISHED,
    REJECTED,
    RUNNING,
    STORED,
    UNFINISHED,
    deals_table,
    insert_plan,
    metadata,
    problems_table,
    read_allocation,
    read_frame,
    runs_table,
    surplus_table,
)
from allocator.plan.tables import SURPLUS_COLUMNS, Plan

__all__ = [  # the run statuses are part of the store's API
    "ABANDONED",
    "FAILED",
    "INFEASIBLE",
    "INVALID",
    "NO_PLAN",
    "PUBLISHED",
    "REJECTED",
    "RUNNING",
    "STORED",
    "UNFINISHED",
    "ProblemRow",
    "RunStore",
    "StoreError",
    "StoredPlan",
    "display_url",
    "engine_url",
    "to_json",
]


class StoreError(RuntimeError):
    """The store URL is unusable, or a run asked for does not exist."""


@dataclass(frozen=True)
class ProblemRow:
    """One problem of a run: ``kind`` is ``instance`` (file, row, column) or ``plan``."""

    kind: str
    message: str
    file: str | None = None
    row: int | None = None
    column: str | None = None


@dataclass(frozen=True)
class StoredPlan:
    """A run's plan as stored, with what aligning it to a later instance needs."""

    run_id: int
    instance_start: str | None
    instance_hash: str | None
    objective: float | None
    plan: Plan


def engine_url(url: str) -> str:
    """The SQLAlchemy URL for a store URL: ``postgresql://`` (or ``postgres://``) uses
    psycopg 3; every other URL is used as given."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def display_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(engine_url(url)).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes: every time in the store is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def to_json(data: Any) -> str:
    """JSON text with NaN and infinities as null (PostgreSQL and strict readers refuse them)."""
    return json.dumps(_finite(data), default=str, sort_keys=False)


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {str(key): _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


Params = ParamSpec("Params")
Returned = TypeVar("Returned")


def _store_errors(
    method: Callable[Concatenate[RunStore, Params], Returned],
) -> Callable[Concatenate[RunStore, Params], Returned]:
    """A database error (unreachable server, a file that is not a database, a missing
    table) becomes a `StoreError` naming the store, for a one-line message."""

    @functools.wraps(method)
    def wrapped(self: RunStore, *args: Params.args, **kwargs: Params.kwargs) -> Returned:
        try:
            return method(self, *args, **kwargs)
        except sa.exc.SQLAlchemyError as error:
            reason = getattr(error, "orig", None) or error
            raise StoreError(f"store {display_url(self.url)}: {reason}") from error

    return wrapped


class RunStore:
    """Rows of runs in one database. ``create`` makes the tables if they are missing;
    read-only users pass ``create=False`` and get `StoreError` for a store with no runs.
    Every database error surfaces as `StoreError`."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        try:
            sa_url = make_url(engine_url(url))
        except sa.exc.ArgumentError as error:
            raise StoreError(f"not a database URL: {url!r}") from error
        options: dict[str, Any] = {}
        if sa_url.get_backend_name() == "sqlite":
            database = sa_url.database or ""
            on_disk = database not in ("", ":memory:")
            if on_disk and not create and not Path(database).is_file():
                raise StoreError(f"no store at {display_url(url)}: {database} does not exist")
            if on_disk and create:
                Path(database).absolute().parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": 60}
        try:
            self.engine: Engine = sa.create_engine(sa_url, **options)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as error:
            raise StoreError(f"cannot use store {display_url(url)}: {error}") from error
        if create:
            self._run(lambda: metadata.create_all(self.engine))
        elif not self._run(lambda: sa.inspect(self.engine).has_table("runs")):
            raise StoreError(f"no runs in store {display_url(url)}")

    @functools.cached_property
    def _substitute_table(self) -> bool:
        """Whether the store has the substitute shipments table (a store made before it
        existed and opened read-only has not; its runs have no substitutes)."""
        return bool(sa.inspect(self.engine).has_table("substitute_allocation"))

    def _has_substitute_table(self) -> bool:
        return self._substitute_table

    def _run(self, action: Any) -> Any:
        try:
            return action()
        except sa.exc.SQLAlchemyError as error:
            reason = getattr(error, "orig", None) or error
            raise StoreError(f"store {display_url(self.url)}: {reason}") from error

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -----------------------------------------------------------------------

    @_store_errors
    def start_run(self, **fields: Any) -> int:
        """Insert a ``running`` row (committed at once); its id."""
        values = {"status": RUNNING, "started_at": dt.datetime.now(dt.UTC), **fields}
        with self.engine.begin() as connection:
            result = connection.execute(runs_table.insert().values(**values))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    @_store_errors
    def update_run(self, run_id: int, **fields: Any) -> None:
        """Change some columns of a run (committed at once), e.g. its ``phase``."""
        with self.engine.begin() as connection:
            connection.execute(
                runs_table.update().where(runs_table.c.id == run_id).values(**fields)
            )

    @_store_errors
    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        plan: Plan | None = None,
        problems: Sequence[ProblemRow] = (),
        **fields: Any,
    ) -> None:
        """The run's outcome, plan rows and problems, in one transaction."""
        values = {"status": status, "finished_at": dt.datetime.now(dt.UTC), **fields}
        for key in ("objective", "best_bound", "mip_gap", "stability_cost", "racks_moved"):
            if key in values:
                values[key] = _number(values[key])
        with self.engine.begin() as connection:
            connection.execute(
                runs_table.update().where(runs_table.c.id == run_id).values(**values)
            )
            if plan is not None:
                insert_plan(connection, run_id, plan)
            if problems:
                connection.execute(
                    problems_table.insert(),
                    [
                        {
                            "run_id": run_id,
                            "seq": seq,
                            "kind": problem.kind,
                            "file": problem.file,
                            "row": problem.row,
                            "column": problem.column,
                            "message": problem.message,
                        }
                        for seq, problem in enumerate(problems, start=1)
                    ],
                )

    @_store_errors
    def mark(self, run_ids: Iterable[int], status: str, message: str) -> None:
        """Set the status of finished-or-dead runs (e.g. ``abandoned``), one transaction."""
        ids = list(run_ids)
        if not ids:
            return
        with self.engine.begin() as connection:
            connection.execute(
                runs_table.update()
                .where(runs_table.c.id.in_(ids))
                .values(status=status, message=message, phase=None)
            )

    # --- reading -----------------------------------------------------------------------

    @_store_errors
    def run(self, run_id: int) -> dict[str, Any]:
        """One run's row as a dict (JSON columns parsed); `StoreError` if there is none."""
        with self.engine.connect() as connection:
            row = (
                connection.execute(sa.select(runs_table).where(runs_table.c.id == run_id))
                .mappings()
                .first()
            )
        if row is None:
            raise StoreError(f"no run {run_id} in {display_url(self.url)}")
        return _decode_run(dict(row))

    @_store_errors
    def runs(self, *, limit: int | None = None, statuses: Sequence[str] = ()) -> list[dict]:
        """Runs, newest first (without the log and the JSON columns' text)."""
        columns = [c for c in runs_table.c if c.name not in ("solver_log", "summary")]
        query = sa.select(*columns).order_by(runs_table.c.id.desc())
        if statuses:
            query = query.where(runs_table.c.status.in_(list(statuses)))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [_decode_run(dict(row)) for row in rows]

    @_store_errors
    def unfinished_runs(self) -> list[dict[str, Any]]:
        """Rows still ``running`` or ``stored``: live runs, or runs that died."""
        return self.runs(statuses=UNFINISHED)

    @_store_errors
    def last_published(self) -> StoredPlan | None:
        """The plan of the newest ``published`` run, or None."""
        with self.engine.connect() as connection:
            run_id = connection.execute(
                sa.select(sa.func.max(runs_table.c.id)).where(runs_table.c.status == PUBLISHED)
            ).scalar()
        return None if run_id is None else self.plan(int(run_id))

    @_store_errors
    def plan(self, run_id: int) -> StoredPlan:
        """A run's stored plan (empty tables for a run without one)."""
        row = self.run(run_id)
        with self.engine.connect() as connection:
            allocation = read_allocation(connection, run_id, self._has_substitute_table())
            surplus = read_frame(connection, surplus_table, run_id, SURPLUS_COLUMNS)
            deals = read_frame(connection, deals_table, run_id, ["customer", "accepted"])
        surplus = surplus.sort_values(["product", "period"]).reset_index(drop=True)
        accepted = pd.Series(
            deals["accepted"].astype(float).to_numpy(), index=deals["customer"].astype(str)
        ).sort_index()
        return StoredPlan(
            run_id,
            row["instance_start"],
            row["instance_hash"],
            row["objective"],
            Plan(allocation, surplus, accepted),
        )

    @_store_errors
    def problems(self, run_id: int) -> pd.DataFrame:
        with self.engine.connect() as connection:
            frame = read_frame(
                connection, problems_table, run_id, ["kind", "file", "row", "column", "message"]
            )
        return frame


def _decode_run(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("started_at", "finished_at", "published_at"):
        if key in row:
            row[key] = _utc(row[key])
    for key in ("options", "manifest", "summary"):
        if row.get(key):
            row[key] = json.loads(row[key])
    return row
