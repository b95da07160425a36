"""The run store on SQLite and PostgreSQL (a throwaway server, tests/stores.py): rows
round-trip, a run and its plan rows are one transaction, stale rows can be marked, URLs."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from allocator.nightly.store import (
    ABANDONED,
    PUBLISHED,
    RUNNING,
    ProblemRow,
    RunStore,
    StoreError,
    display_url,
    engine_url,
)
from allocator.plan.tables import ALLOCATION_COLUMNS, Plan
from tests.stores import STORE_KINDS, store_url


@pytest.fixture(params=STORE_KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_url(request.param, tmp_path) as value:
        yield value


def make_plan_rows(racks: int = 3, orders: tuple[str, ...] = ("o1", "o2")) -> Plan:
    allocation = pd.DataFrame(
        [
            (order, "c-" + order, "internal", "trainium", 1, period, racks + k)
            for k, order in enumerate(orders)
            for period in (1, 2)
        ],
        columns=ALLOCATION_COLUMNS,
    )
    surplus = pd.DataFrame({"product": ["trainium"], "period": [2], "racks": [4]})
    deals = pd.Series({"buyer-a": 1.0, "buyer-b": 0.0})
    return Plan(allocation, surplus, deals)


def test_run_and_plan_round_trip(url: str) -> None:
    plan = make_plan_rows()
    with RunStore(url) as store:
        run_id = store.start_run(host="h", pid=1, instance_start="2027-01", instance_hash="abc")
        assert store.run(run_id)["status"] == RUNNING
        assert store.unfinished_runs()[0]["id"] == run_id
        store.finish_run(
            run_id,
            status=PUBLISHED,
            plan=plan,
            problems=[ProblemRow("plan", "a note", "orders.csv", 3, "racks")],
            objective=123.5,
            mip_gap=math.nan,
            manifest='{"run_id": 1}',
        )
    with RunStore(url, create=False) as store:
        row = store.run(run_id)
        assert row["status"] == PUBLISHED
        assert row["objective"] == 123.5
        assert row["mip_gap"] is None  # NaN is stored as NULL
        assert row["manifest"] == {"run_id": 1}
        assert row["started_at"].tzinfo is not None
        assert row["finished_at"] >= row["started_at"]
        stored = store.last_published()
        assert stored is not None
        assert (stored.run_id, stored.instance_start, stored.instance_hash) == (
            run_id,
            "2027-01",
            "abc",
        )
        pd.testing.assert_frame_equal(stored.plan.allocation, plan.allocation, check_dtype=False)
        pd.testing.assert_frame_equal(stored.plan.surplus, plan.surplus, check_dtype=False)
        assert stored.plan.deal_accepted.to_dict() == {"buyer-a": 1.0, "buyer-b": 0.0}
        problems = store.problems(run_id)
        assert problems.to_dict("records") == [
            {
                "kind": "plan",
                "file": "orders.csv",
                "row": 3,
                "column": "racks",
                "message": "a note",
            }
        ]
        assert store.unfinished_runs() == []


def test_finish_is_one_transaction(url: str) -> None:
    """A plan row that cannot be stored rolls back the run's outcome with it."""
    plan = make_plan_rows()
    duplicated = Plan(
        pd.concat([plan.allocation, plan.allocation.head(1)]), plan.surplus, plan.deal_accepted
    )
    with RunStore(url) as store:
        run_id = store.start_run(host="h")
        with pytest.raises(StoreError) as raised:
            store.finish_run(run_id, status=PUBLISHED, plan=duplicated, objective=1.0)
        assert isinstance(raised.value.__cause__, sa.exc.IntegrityError)
        row = store.run(run_id)
        assert row["status"] == RUNNING
        assert row["objective"] is None
        assert store.plan(run_id).plan.allocation.empty
        assert store.last_published() is None


def test_last_published_and_marking(url: str) -> None:
    with RunStore(url) as store:
        first = store.start_run()
        store.finish_run(first, status=PUBLISHED, plan=make_plan_rows(racks=1))
        second = store.start_run()
        store.finish_run(second, status=PUBLISHED, plan=make_plan_rows(racks=5))
        dead = store.start_run(started_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
        store.finish_run(store.start_run(), status="failed", message="boom")
        stored = store.last_published()
        assert stored is not None and stored.run_id == second
        assert stored.plan.allocation["racks"].min() == 5
        assert [row["id"] for row in store.unfinished_runs()] == [dead]
        store.mark([dead], ABANDONED, "gone")
        assert store.run(dead)["status"] == ABANDONED
        assert store.run(dead)["message"] == "gone"
        assert [row["id"] for row in store.runs(limit=2)] == [dead + 1, dead]
        assert store.unfinished_runs() == []


def test_unknown_run_is_an_error(url: str) -> None:
    with RunStore(url) as store, pytest.raises(StoreError, match="no run 42"):
        store.run(42)


def test_reading_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(StoreError, match="does not exist"):
        RunStore(f"sqlite:///{path}", create=False)
    assert not path.exists()
    empty = tmp_path / "empty.db"
    sa.create_engine(f"sqlite:///{empty}").connect().close()
    with pytest.raises(StoreError, match="no runs"):
        RunStore(f"sqlite:///{empty}", create=False)


def test_urls() -> None:
    assert engine_url("postgresql://u@h:5/db") == "postgresql+psycopg://u@h:5/db"
    assert engine_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert engine_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert engine_url("sqlite:///runs.db") == "sqlite:///runs.db"
    assert "secret" not in display_url("postgresql://u:secret@h/db")
    with pytest.raises(StoreError, match="not a database URL"):
        RunStore("no url at all")
