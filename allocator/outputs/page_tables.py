"""report.html's tables: sortable, filterable HTML tables and the columns each one shows.

A table is a list of `Column`s (header, raw values, formatter); every cell keeps its raw
value as its sort key for the page's script, which sorts on a click of a header and
filters as you type. Tables longer than `MAX_TABLE_ROWS` show their first rows.
Never imports Pyomo.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import pandas as pd

from allocator.outputs.folder import ResultFolder
from allocator.outputs.generations import has_substitutes, substitute_orders
from allocator.outputs.page_blocks import note_html
from allocator.outputs.page_formats import (
    Formatter,
    is_missing,
    show_full_money,
    show_month,
    show_racks,
    show_rate,
    show_text,
)

MAX_TABLE_ROWS = 5000
"""Longer tables show their first rows; the CSVs and plan.xlsx have every row."""


Column = tuple[str, Sequence[Any], Formatter]
"""A table column: header, values, how to show a value (sorting uses the raw value)."""


def table_html(anchor: str, *columns: Column) -> str:
    """A sortable, filterable table of id ``anchor`` with its filter box and row count."""
    if not columns:
        return ""
    rows = len(columns[0][1])
    shown = min(rows, MAX_TABLE_ROWS)
    head = "".join(f"<th>{html.escape(header)}</th>" for header, _, _ in columns)
    body = []
    for index in range(shown):
        cells = []
        for _, values, show in columns:
            value = values[index]
            sort = "" if is_missing(value) else html.escape(str(value), quote=True)
            text = "" if is_missing(value) else html.escape(show(value))
            cells.append(f'<td data-sort="{sort}">{text}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    more = (
        note_html(f"First {shown:,} of {rows:,} rows; the CSV and plan.xlsx have them all.")
        if shown < rows
        else ""
    )
    return (
        f'<div class="table-tools"><input type="search" placeholder="filter rows" '
        f'data-table="{anchor}" aria-label="filter rows"> <span class="count" '
        f'id="{anchor}-count">{shown:,} rows</span></div>'
        f'<div class="table-wrap"><table class="grid" id="{anchor}"><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table></div>{more}"
    )


def _values(frame: pd.DataFrame, column: str) -> list[Any]:
    if column not in frame.columns:
        return [None] * len(frame)
    return [
        None if is_missing(v) else (v.item() if hasattr(v, "item") else v) for v in frame[column]
    ]


def customer_columns(folder: ResultFolder) -> list[Column]:
    assert folder.customers is not None
    frame = folder.customers.sort_values(
        ["waiting_list_racks", "customer"], ascending=[False, True]
    )
    deal = [
        None if v is None else ("accepted" if v >= 0.5 else "rejected")
        for v in _values(frame, "deal_accepted")
    ]
    return [
        ("customer", _values(frame, "customer"), show_text),
        ("segment", _values(frame, "segment"), show_text),
        ("region", _values(frame, "region"), show_text),
        ("requested", _values(frame, "requested"), show_racks),
        ("allocated", _values(frame, "allocated"), show_racks),
        ("fill rate", _values(frame, "fill_rate"), show_rate),
        ("waiting list", _values(frame, "waiting_list_racks"), show_racks),
        ("min fill", _values(frame, "min_fill"), show_rate),
        ("shortfall", _values(frame, "shortfall_racks"), show_racks),
        ("deal", deal, show_text),
        *_substitute_column(frame),
        ("why short", _values(frame, "why_short"), show_text),
    ]


def _substitute_column(customers: pd.DataFrame) -> list[Column]:
    if "substitute_racks" not in customers.columns:
        return []
    return [("as substitute", _values(customers, "substitute_racks"), show_racks)]


def substitute_columns(folder: ResultFolder) -> list[Column]:
    """Each order served by another product than it named, with its months."""
    frame = substitute_orders(folder.allocation)
    return [
        ("customer", _values(frame, "customer"), show_text),
        ("order", _values(frame, "order"), show_text),
        ("ordered", _values(frame, "ordered_product"), show_text),
        ("shipped", _values(frame, "product"), show_text),
        ("requested month", _values(frame, "period"), show_month(folder)),
        ("first ship month", _values(frame, "first_ship_period"), show_month(folder)),
        ("last ship month", _values(frame, "last_ship_period"), show_month(folder)),
        ("racks", _values(frame, "racks"), show_racks),
    ]


def fairness_columns(folder: ResultFolder, fairness: pd.DataFrame) -> list[Column]:
    return [
        ("by", _values(fairness, "group"), show_text),
        ("segment or region", _values(fairness, "name"), show_text),
        ("customers", _values(fairness, "customers"), show_racks),
        ("requested", _values(fairness, "requested"), show_racks),
        ("allocated", _values(fairness, "allocated"), show_racks),
        ("fill rate", _values(fairness, "fill_rate"), show_rate),
        ("waiting list", _values(fairness, "waiting_list_racks"), show_racks),
    ]


def stock_columns(folder: ResultFolder) -> list[Column]:
    frame = folder.stock if folder.stock is not None else pd.DataFrame()
    return [
        ("product", _values(frame, "product"), show_text),
        ("month", _values(frame, "period"), show_month(folder)),
        ("base", _values(frame, "base"), show_racks),
        ("surplus", _values(frame, "surplus"), show_racks),
        ("shipped", _values(frame, "shipped"), show_racks),
        ("stock", _values(frame, "stock"), show_racks),
    ]


def marginal_columns(folder: ResultFolder) -> list[Column]:
    assert folder.marginal_values is not None
    frame = folder.marginal_values
    unit = {"surplus_wafers": "per wafer", "base_racks": "per rack", "region_power": "per kW"}
    return [
        ("resource", _values(frame, "resource"), show_text),
        ("item", _values(frame, "item"), show_text),
        ("month", _values(frame, "period"), show_month(folder)),
        (f"value ({folder.currency})", _values(frame, "value"), show_full_money),
        ("unit", [unit.get(str(r), "") for r in frame["resource"]], show_text),
    ]


def allocation_columns(folder: ResultFolder) -> list[Column]:
    assert folder.allocation is not None
    frame = folder.allocation
    return [
        ("order", _values(frame, "order"), show_text),
        ("customer", _values(frame, "customer"), show_text),
        ("segment", _values(frame, "segment"), show_text),
        ("product", _values(frame, "product"), show_text),
        *(
            [("ordered product", _values(frame, "ordered_product"), show_text)]
            if has_substitutes(frame)
            else []
        ),
        ("requested month", _values(frame, "period"), show_month(folder)),
        ("ship month", _values(frame, "ship_period"), show_month(folder)),
        ("racks", _values(frame, "racks"), show_racks),
    ]


def sweep_columns(folder: ResultFolder) -> list[Column]:
    assert folder.sweep is not None
    frame = folder.sweep
    shown: list[Column] = []
    for column in frame.columns:
        if column in ("hash", "message", "seconds"):
            continue
        shown.append(
            (column.replace("_", " "), _values(frame, column), _sweep_formatter(folder, column))
        )
    return shown


SWEEP_MONEY_WORDS = (
    "objective",
    "best_bound",
    "rack_revenue",
    "service_margin",
    "cost",
    "penalty",
    "per_wafer",
)
"""A sweep.csv column whose name holds one of these words is money."""


def _sweep_formatter(folder: ResultFolder, column: str) -> Formatter:
    if column in ("mip_gap", "internal_fill_rate"):
        return show_rate
    if column.endswith("_racks") or column == "deals_accepted":
        return show_racks
    if any(word in column for word in SWEEP_MONEY_WORDS):
        return lambda value: (
            show_full_money(value) if isinstance(value, int | float) else str(value)
        )
    return lambda value: f"{value:,.6g}" if isinstance(value, float) else str(value)
