"""plan.xlsx: opens with openpyxl, its cells equal the CSVs, its pivot sums equal the
allocation rows, headers are frozen and numbers formatted."""

from __future__ import annotations

import json
import math
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from openpyxl.worksheet.worksheet import Worksheet
from typer.testing import CliRunner

from allocator.cli import app
from allocator.outputs.folder import period_labels
from allocator.outputs.report import write_report

RUNNER = CliRunner()
CSV_SHEETS = {
    "customers": "customers.csv",
    "stock": "stock.csv",
    "marginal_values": "marginal_values.csv",
    "surplus": "surplus.csv",
    "allocation_rows": "allocation.csv",
}


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from allocator.data.generate import generate_instance

    base = tmp_path_factory.mktemp("workbook")
    generate_instance(base / "instance", regions=3, buyers=5, periods=12, seed=9)
    out = base / "out"
    result = RUNNER.invoke(app, ["solve", str(base / "instance"), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    write_report(out)
    return out


def sheet_frame(sheet: Worksheet) -> pd.DataFrame:
    rows = list(sheet.iter_rows(values_only=True))
    return pd.DataFrame(rows[1:], columns=rows[0])


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def same(cell: object, value: object) -> bool:
    """A cell equals a CSV value: empty for a missing one, the number, the text."""
    if _missing(value):
        return _missing(cell) or cell == ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        # openpyxl writes a float with 16 significant digits (Excel keeps 15): equal to
        # the last digit a spreadsheet holds
        return isinstance(cell, int | float) and float(cell) == pytest.approx(value, rel=1e-15)
    return cell == value


@pytest.mark.parametrize("sheet_name", sorted(CSV_SHEETS))
def test_sheet_cells_equal_the_csv(solved: Path, sheet_name: str) -> None:
    book = openpyxl.load_workbook(solved / "plan.xlsx")
    sheet = book[sheet_name]
    frame = sheet_frame(sheet)
    csv = pd.read_csv(solved / CSV_SHEETS[sheet_name])
    assert len(frame) == len(csv)
    for column in csv.columns:
        for cell, value in zip(frame[column], csv[column].tolist(), strict=True):
            assert same(cell, value), (sheet_name, column, cell, value)
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.bold


def test_months_beside_periods(solved: Path) -> None:
    book = openpyxl.load_workbook(solved / "plan.xlsx")
    stock = sheet_frame(book["stock"])
    labels = period_labels("2027-01", 12)
    assert stock["month"].tolist() == [labels[int(t)] for t in stock["period"]]
    rows = sheet_frame(book["allocation_rows"])
    assert rows["ship_month"].tolist() == [labels[int(t)] for t in rows["ship_period"]]


def test_allocation_pivot_sums_the_rows(solved: Path) -> None:
    book = openpyxl.load_workbook(solved / "plan.xlsx")
    sheet = book["allocation"]
    assert sheet.freeze_panes == "C2"
    pivot = sheet_frame(sheet).set_index("customer")
    allocation = pd.read_csv(solved / "allocation.csv")
    labels = period_labels("2027-01", 12)
    expected = allocation.groupby(["customer", "ship_period"])["racks"].sum()
    for (customer, period), racks in expected.items():
        assert pivot.loc[customer, labels[int(period)]] == racks
    customers = pd.read_csv(solved / "customers.csv").set_index("customer")
    for customer, total in pivot["total"].drop("total").items():
        assert total == customers.loc[customer, "allocated"]
    assert pivot.loc["total", "total"] == allocation["racks"].sum()
    assert sheet["C2"].number_format.startswith("#,##0")


def test_summary_sheet(solved: Path) -> None:
    book = openpyxl.load_workbook(solved / "plan.xlsx")
    assert book.sheetnames[:2] == ["summary", "allocation"]
    sheet = book["summary"]
    pairs = {row[0]: row[1] for row in sheet.iter_rows(min_row=2, values_only=True) if row[0]}
    summary = json.loads((solved / "summary.json").read_text())
    assert same(pairs["objective"], summary["objective"])
    assert pairs["status"] == summary["status"]
    for term, value in summary["objective_terms"].items():
        assert same(pairs[term], value)
    customers = pd.read_csv(solved / "customers.csv")
    internal = customers[customers["segment"] == "internal"]
    assert pairs["lowest internal fill rate"] == pytest.approx(internal["fill_rate"].min())
    cells = {row[0]: row for row in sheet.iter_rows(values_only=True)}
    assert "fill rate by segment and region" in cells
    objective_cell = next(c for c in sheet["A"] if c.value == "objective")
    assert sheet.cell(row=objective_cell.row, column=2).number_format == "#,##0"


def test_sweep_sheet_equals_sweep_csv(tmp_path: Path) -> None:
    text = (
        "scenario,kind,policy_dropped,surplus_scale,policy.third_party_max_share,status,"
        "objective,internal_waiting_list_racks,marginal_value_per_wafer,hash\n"
        "a,sweep,,0.5,0.35,optimal,100.5,10,,x\nb,sweep,,1.0,0.35,optimal,120,8,4.1,y\n"
    )
    (tmp_path / "sweep.csv").write_text(text, encoding="utf-8")
    write_report(tmp_path)
    book = openpyxl.load_workbook(tmp_path / "plan.xlsx")
    assert book.sheetnames == ["sweep"]
    frame = sheet_frame(book["sweep"])
    csv = pd.read_csv(tmp_path / "sweep.csv")
    for column in csv.columns:
        for cell, value in zip(frame[column], csv[column].tolist(), strict=True):
            assert same(cell, value), (column, cell, value)
