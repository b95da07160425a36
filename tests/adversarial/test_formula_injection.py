"""Ids a planner's file may hold that a spreadsheet would run as formulas: plan.xlsx
writes every text cell as text (an id `=1+1` used to become a live formula)."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook

from tests.adversarial.helpers import SMALL, allocator, copy_instance

FORMULAS = {"A": "=1+1", "B": '=HYPERLINK("http://x.invalid","click")'}
"""Customer ids of the small instance, renamed to formulas."""


def test_formula_ids_are_text_in_the_workbook(tmp_path: Path) -> None:
    instance = copy_instance(SMALL, tmp_path / "instance")
    for name in ("customers.csv", "orders.csv", "attach.csv"):
        path = instance / name
        text = path.read_text()
        for old, new in FORMULAS.items():
            quoted = '"' + new.replace('"', '""') + '"'
            text = text.replace(f"\n{old},", f"\n{quoted},").replace(f",{old},", f",{quoted},")
        path.write_text(text)
    result = allocator("solve", instance, "--out", tmp_path / "out", "--report", "-q")
    assert result.returncode == 0, result.stderr
    book = load_workbook(tmp_path / "out" / "plan.xlsx")
    seen = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if cell.value in FORMULAS.values():
                    assert cell.data_type == "s"
                    seen.add(cell.value)
    assert seen == set(FORMULAS.values())
