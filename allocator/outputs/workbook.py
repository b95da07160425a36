"""``plan.xlsx``: the result as a workbook a planner opens in Excel. Never imports Pyomo.

Sheets: ``summary`` (outcome, objective terms, fill and fairness), ``allocation`` (racks
per customer and ship month), ``customers`` (with ``why_short``), ``stock``,
``marginal_values``, ``surplus`` and ``allocation_rows`` (the CSVs as they are, plus a
``month`` column beside each period), with substitutes ``generations`` (racks per month
by ordered and shipped product) and ``substitutes`` (each order served by another
product), under the lexicographic rule ``priority_stages`` and ``tiers``, and
``sweep`` / ``policy_cost`` for a what-if folder. Cells hold the CSVs' numbers
unrounded; only the number format rounds what is shown. Every sheet has a frozen, bold
header row and a filter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from allocator.outputs.folder import ResultFolder, fairness_table, lowest_internal_fill
from allocator.outputs.generations import generation_flows, has_substitutes, substitute_orders
from allocator.outputs.tiers import has_tiers, stage_table, tier_table

RACKS = "#,##0"
RACKS_FRACTION = "#,##0.0"
RACKS_OR_DASH = '#,##0;-#,##0;"-"'
"""Zero racks shown as a dash in the pivot, so the shipped months stand out."""
RATE = "0.0%"
MONEY = "#,##0"
MONEY_FINE = "#,##0.00"
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")
SECTION_FONT = Font(bold=True, size=12)

COLUMN_FORMATS = {
    "requested": RACKS,
    "allocated": RACKS,
    "waiting_list_racks": RACKS,
    "shortfall_racks": RACKS_FRACTION,
    "fill_rate": RATE,
    "min_fill": RATE,
    "deal_accepted": "0",
    "base": RACKS,
    "surplus": RACKS,
    "shipped": RACKS,
    "stock": RACKS,
    "racks": RACKS,
    "value": MONEY_FINE,
    "internal_fill_rate": RATE,
    "mip_gap": "0.000%",
    "third_party_racks": RACKS,
    "surplus_racks": RACKS,
    "internal_waiting_list_racks": RACKS,
    "surplus_wafers_used": "#,##0.0",
    "surplus_wafers_offered": "#,##0.0",
    "marginal_value_per_wafer": MONEY,
    "objective": MONEY,
    "best_bound": MONEY,
}
"""Number formats by CSV column; money-like names not listed get `MONEY`."""

PERIOD_COLUMNS = {
    "period": "month",
    "ship_period": "ship_month",
    "first_ship_period": "first_ship_month",
    "last_ship_period": "last_ship_month",
}
"""Period columns and the month column shown beside each."""
MONTH_COLUMNS = {month: period for period, month in PERIOD_COLUMNS.items()}


def write_workbook(folder: ResultFolder, path: Path) -> None:
    """Every sheet the folder has data for, saved to ``path``."""
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    substitutes = has_substitutes(folder.allocation)
    tiers = has_tiers(folder.summary)
    if folder.has_plan:
        _summary_sheet(book.create_sheet("summary"), folder)
        _allocation_pivot(book.create_sheet("allocation"), folder)
    tables: list[tuple[str, pd.DataFrame | None]] = [
        ("customers", folder.customers),
        ("stock", folder.stock),
        ("marginal_values", folder.marginal_values),
        ("surplus", folder.surplus),
        ("allocation_rows", folder.allocation),
        ("generations", generation_flows(folder.allocation) if substitutes else None),
        ("substitutes", substitute_orders(folder.allocation) if substitutes else None),
        ("priority_stages", stage_table(folder.summary) if tiers else None),
        ("tiers", tier_table(folder.summary) if tiers else None),
        ("sweep", folder.sweep),
        ("policy_cost", folder.policy_cost),
        ("two_stage", _two_stage_figures(folder)),
        ("first_stage", folder.first_stage),
        ("scenario_results", folder.scenario_results),
    ]
    for name, frame in tables:
        if frame is not None:
            _table_sheet(book.create_sheet(name), frame, folder)
    book.save(path)


TWO_STAGE_FIGURES = (
    "rp",
    "rp_bound",
    "ws",
    "ws_bound",
    "eev",
    "eev_bound",
    "vss",
    "vss_low",
    "vss_high",
    "evpi",
    "evpi_low",
    "evpi_high",
)


def _two_stage_figures(folder: ResultFolder) -> pd.DataFrame | None:
    """A two-stage plan's figures as ``figure, value`` rows (None for other folders)."""
    if folder.stochastic is None:
        return None
    record = folder.stochastic
    return pd.DataFrame(
        {
            "figure": list(TWO_STAGE_FIGURES),
            "value": [record.get(name) for name in TWO_STAGE_FIGURES],
        }
    )


def _put(sheet: Worksheet, row: int, column: int, value: Any) -> Cell:
    """Set a cell. Text is always text: an id such as ``=1+1`` or ``@SUM(A1)`` from a
    planner's file would otherwise become a live formula (formula injection)."""
    cell = sheet.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    return cell


def _cell_value(value: Any) -> Any:
    """A CSV value as a cell: NaN is an empty cell, numpy scalars plain Python."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _number_format(column: str) -> str | None:
    if column in COLUMN_FORMATS:
        return COLUMN_FORMATS[column]
    money_words = ("revenue", "margin", "cost", "penalty", "objective", "price")
    if any(word in column for word in money_words):
        return MONEY
    return None


def _header(sheet: Worksheet, row: int, headers: Iterable[str]) -> None:
    for column, header in enumerate(headers, start=1):
        cell = _put(sheet, row, column, header)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL


def _widths(sheet: Worksheet, widths: Mapping[int, float]) -> None:
    for column, width in widths.items():
        sheet.column_dimensions[get_column_letter(column)].width = min(max(width, 8), 60)


def _table_sheet(sheet: Worksheet, frame: pd.DataFrame, folder: ResultFolder) -> None:
    """A CSV as it is, with a ``month`` column after each period column."""
    columns: list[tuple[str, str | None]] = []
    for column in frame.columns:
        columns.append((str(column), str(column)))
        if column in PERIOD_COLUMNS:
            columns.append((PERIOD_COLUMNS[column], None))
    _header(sheet, 1, [header for header, _ in columns])
    widths = {index: len(header) + 2 for index, (header, _) in enumerate(columns, start=1)}
    for row_number, row in enumerate(frame.itertuples(index=False), start=2):
        values = dict(zip(frame.columns, row, strict=True))
        for index, (header, source) in enumerate(columns, start=1):
            if source is None:
                period_column = MONTH_COLUMNS[header]
                value: Any = folder.label(values[period_column])
                fmt = None
            else:
                value = _cell_value(values[source])
                fmt = _number_format(source) if isinstance(value, int | float) else None
            cell = _put(sheet, row_number, index, value)
            if fmt:
                cell.number_format = fmt
            widths[index] = max(widths[index], min(len(str(value)), 60) if value is not None else 0)
    _widths(sheet, widths)
    _finish(sheet, len(columns), len(frame) + 1)


def _finish(sheet: Worksheet, columns: int, rows: int, freeze: str = "A2") -> None:
    sheet.freeze_panes = freeze
    if columns and rows > 1:
        sheet.auto_filter.ref = f"A1:{get_column_letter(columns)}{rows}"


def _allocation_pivot(sheet: Worksheet, folder: ResultFolder) -> None:
    """Racks shipped per customer (rows) and ship month (columns), with totals."""
    assert folder.allocation is not None and folder.customers is not None
    periods = list(folder.period_labels)
    customers = folder.customers[["customer", "segment"]]
    pivot = folder.allocation.pivot_table(
        index="customer", columns="ship_period", values="racks", aggfunc="sum", fill_value=0
    ).reindex(index=customers["customer"], columns=periods, fill_value=0)
    headers = ["customer", "segment", *(folder.label(t) for t in periods), "total"]
    _header(sheet, 1, headers)
    for row_number, (customer, segment) in enumerate(
        zip(customers["customer"], customers["segment"], strict=True), start=2
    ):
        _put(sheet, row_number, 1, customer)
        _put(sheet, row_number, 2, segment)
        racks = pivot.loc[customer].tolist()
        for offset, value in enumerate([*racks, sum(racks)]):
            cell = _put(sheet, row_number, 3 + offset, _cell_value(value))
            cell.number_format = RACKS_OR_DASH
    total_row = len(customers) + 2
    _put(sheet, total_row, 1, "total").font = HEADER_FONT
    column_totals = pivot.sum(axis=0).tolist()
    for offset, value in enumerate([*column_totals, sum(column_totals)]):
        cell = _put(sheet, total_row, 3 + offset, _cell_value(value))
        cell.number_format = RACKS
        cell.font = HEADER_FONT
    width = max([len(str(c)) for c in customers["customer"]] + [8]) + 2
    _widths(sheet, {1: width, 2: 12} | {3 + i: 9 for i in range(len(periods) + 1)})
    _finish(sheet, len(headers), len(customers) + 1, freeze="C2")


def _summary_sheet(sheet: Worksheet, folder: ResultFolder) -> None:
    """Outcome, objective terms, fill by segment and region, lowest internal fill."""
    assert folder.customers is not None
    summary = folder.summary
    instance = summary.get("instance") or {}
    _header(sheet, 1, ["item", "value"])
    rows: list[tuple[str, Any, str | None]] = [
        ("instance", instance.get("name"), None),
        ("instance source", instance.get("source"), None),
        ("first month", folder.label(1), None),
        ("months", folder.periods, None),
        ("currency", folder.currency, None),
        ("status", summary.get("status"), None),
        ("objective", summary.get("objective"), MONEY),
        ("best bound", summary.get("best_bound"), MONEY),
        ("MIP gap", summary.get("mip_gap"), "0.000%"),
        ("solve seconds", summary.get("solve_seconds"), "0.00"),
        ("marginal values from", summary.get("marginal_values_source"), None),
        ("surplus racks", summary.get("surplus_racks"), RACKS),
        ("deals accepted", summary.get("deals_accepted"), "0"),
    ]
    lowest = lowest_internal_fill(folder.customers)
    if lowest is not None:
        rows.append(("lowest internal fill rate", lowest[1], RATE))
        rows.append(("lowest internal fill customer", lowest[0], None))
    row = 2
    for label, value, fmt in rows:
        row = _pair(sheet, row, label, value, fmt)
    row += 1
    _put(sheet, row, 1, "objective terms").font = SECTION_FONT
    row += 1
    for term, value in (summary.get("objective_terms") or {}).items():
        row = _pair(sheet, row, term, value, MONEY)
    row += 1
    _put(sheet, row, 1, "fill rate by segment and region").font = SECTION_FONT
    row += 1
    fairness = fairness_table(folder.customers)
    headers = list(fairness.columns)
    _header(sheet, row, headers)
    for record in fairness.itertuples(index=False):
        row += 1
        for column, (name, value) in enumerate(zip(headers, record, strict=True), start=1):
            cell = _put(sheet, row, column, _cell_value(value))
            fmt = RATE if name == "fill_rate" else RACKS if column > 2 else None
            if fmt:
                cell.number_format = fmt
    _widths(sheet, {1: 32, 2: 26, 3: 11, 4: 11, 5: 11, 6: 10, 7: 18})
    sheet.freeze_panes = "A2"


def _pair(sheet: Worksheet, row: int, label: str, value: Any, fmt: str | None) -> int:
    _put(sheet, row, 1, label)
    cell = _put(sheet, row, 2, _cell_value(value))
    if fmt and isinstance(cell.value, int | float):
        cell.number_format = fmt
    return row + 1
