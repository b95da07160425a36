"""The run store's schema: its tables, the run statuses, a plan written to and read from rows.

Tables:

* ``runs``: one row per run: status, phase, times, host and pid, lock and publish paths,
  the instance (source, name, content hash, start label), solve outcome (status,
  objective, bound, gap), stability cost, racks moved, exit code, message, and as JSON
  text the options, the manifest and the summary; the HiGHS log as text.
* ``allocation``, ``surplus``, ``deals``: the plan rows of a run (the plan of every run
  that had one, published or not); ``substitute_allocation``: its shipments of another
  product than the order's own (substitutes.csv), one row per order, product and ship
  period. A store made before substitutes existed gets that table the next time a run
  opens it to write.
* ``problems``: what was wrong: instance problems (file, row, column) or plan violations.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allocator.plan.tables import ALLOCATION_COLUMNS, SUBSTITUTE_COLUMN, Plan

RUNNING = "running"
STORED = "stored"
PUBLISHED = "published"
INVALID = "invalid"
INFEASIBLE = "infeasible"
NO_PLAN = "no_plan"
REJECTED = "rejected"
FAILED = "failed"
ABANDONED = "abandoned"
UNFINISHED = (RUNNING, STORED)

metadata = sa.MetaData()

runs_table = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("phase", sa.String(16)),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.Column("lock_path", sa.Text),
    sa.Column("publish_path", sa.Text),
    sa.Column("instance_source", sa.Text),
    sa.Column("instance_name", sa.Text),
    sa.Column("instance_hash", sa.String(64)),
    sa.Column("instance_start", sa.String(16)),
    sa.Column("previous_run_id", sa.Integer),
    sa.Column("solve_status", sa.String(16)),
    sa.Column("objective", sa.Double),
    sa.Column("best_bound", sa.Double),
    sa.Column("mip_gap", sa.Double),
    sa.Column("stability_cost", sa.Double),
    sa.Column("racks_moved", sa.Double),
    sa.Column("exit_code", sa.Integer),
    sa.Column("message", sa.Text),
    sa.Column("options", sa.Text),
    sa.Column("manifest", sa.Text),
    sa.Column("summary", sa.Text),
    sa.Column("solver_log", sa.Text),
)


def _run_id_column() -> sa.Column[int]:
    return sa.Column(
        "run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )


allocation_table = sa.Table(
    "allocation",
    metadata,
    _run_id_column(),
    sa.Column("order", sa.Text, primary_key=True),
    sa.Column("ship_period", sa.Integer, primary_key=True),
    sa.Column("customer", sa.Text, nullable=False),
    sa.Column("segment", sa.String(16), nullable=False),
    sa.Column("product", sa.Text, nullable=False),
    sa.Column("period", sa.Integer, nullable=False),
    sa.Column("racks", sa.Integer, nullable=False),
)

surplus_table = sa.Table(
    "surplus",
    metadata,
    _run_id_column(),
    sa.Column("product", sa.Text, primary_key=True),
    sa.Column("period", sa.Integer, primary_key=True),
    sa.Column("racks", sa.Integer, nullable=False),
)

deals_table = sa.Table(
    "deals",
    metadata,
    _run_id_column(),
    sa.Column("customer", sa.Text, primary_key=True),
    sa.Column("accepted", sa.Integer, nullable=False),
)

problems_table = sa.Table(
    "problems",
    metadata,
    _run_id_column(),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("file", sa.Text),
    sa.Column("row", sa.Integer),
    sa.Column("column", sa.Text),
    sa.Column("message", sa.Text, nullable=False),
)

substitute_allocation_table = sa.Table(
    "substitute_allocation",
    metadata,
    _run_id_column(),
    sa.Column("order", sa.Text, primary_key=True),
    sa.Column("product", sa.Text, primary_key=True),
    sa.Column("ship_period", sa.Integer, primary_key=True),
    sa.Column("ordered_product", sa.Text, nullable=False),
    sa.Column("customer", sa.Text, nullable=False),
    sa.Column("segment", sa.String(16), nullable=False),
    sa.Column("period", sa.Integer, nullable=False),
    sa.Column("racks", sa.Integer, nullable=False),
)

PLAN_TABLES = (
    allocation_table,
    substitute_allocation_table,
    surplus_table,
    deals_table,
    problems_table,
)


def insert_plan(connection: Connection, run_id: int, plan: Plan) -> None:
    """A plan's rows, in the caller's transaction: own-product shipments into
    ``allocation``, substitutes into ``substitute_allocation``."""
    allocation = plan.allocation
    if SUBSTITUTE_COLUMN in allocation.columns:
        substituted = allocation["product"] != allocation[SUBSTITUTE_COLUMN]
        _insert_substitutes(connection, run_id, allocation[substituted])
        allocation = allocation[~substituted]
    if len(allocation):
        rows = [
            {
                "run_id": run_id,
                "order": str(order),
                "customer": str(customer),
                "segment": str(segment),
                "product": str(product),
                "period": int(period),
                "ship_period": int(ship_period),
                "racks": round(float(racks)),
            }
            for order, customer, segment, product, period, ship_period, racks in zip(
                *(allocation[column] for column in ALLOCATION_COLUMNS), strict=True
            )
        ]
        connection.execute(allocation_table.insert(), rows)
    if len(plan.surplus):
        connection.execute(
            surplus_table.insert(),
            [
                {"run_id": run_id, "product": p, "period": int(t), "racks": round(float(r))}
                for p, t, r in zip(
                    plan.surplus["product"],
                    plan.surplus["period"],
                    plan.surplus["racks"],
                    strict=True,
                )
            ],
        )
    if len(plan.deal_accepted):
        connection.execute(
            deals_table.insert(),
            [
                {"run_id": run_id, "customer": str(c), "accepted": round(float(y))}
                for c, y in plan.deal_accepted.items()
            ],
        )


def read_frame(
    connection: Connection, table: sa.Table, run_id: int, columns: list[str]
) -> pd.DataFrame:
    query = sa.select(*(table.c[name] for name in columns)).where(table.c.run_id == run_id)
    rows = connection.execute(query).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=columns)
    for name in columns:
        if isinstance(table.c[name].type, sa.Integer):
            frame[name] = frame[name].astype("int64") if frame[name].notna().all() else frame[name]
    return frame


def _insert_substitutes(connection: Connection, run_id: int, rows: pd.DataFrame) -> None:
    if not len(rows):
        return
    columns = [*ALLOCATION_COLUMNS, SUBSTITUTE_COLUMN]
    connection.execute(
        substitute_allocation_table.insert(),
        [
            {"run_id": run_id, **dict(zip(columns, values, strict=True))}
            | {"period": int(values[4]), "ship_period": int(values[5]), "racks": round(values[6])}
            for values in zip(*(rows[column] for column in columns), strict=True)
        ],
    )


def read_allocation(connection: Connection, run_id: int, has_substitutes: bool) -> pd.DataFrame:
    """A run's shipments; with substitute rows, every row gets ``ordered_product``."""
    allocation = read_frame(connection, allocation_table, run_id, ALLOCATION_COLUMNS)
    if has_substitutes:
        columns = [*ALLOCATION_COLUMNS, SUBSTITUTE_COLUMN]
        substituted = read_frame(connection, substitute_allocation_table, run_id, columns)
        if len(substituted):
            allocation[SUBSTITUTE_COLUMN] = allocation["product"]
            allocation = pd.concat([allocation, substituted], ignore_index=True)
    keys = ["order", "ship_period", "product"]
    return allocation.sort_values(keys).reset_index(drop=True)
