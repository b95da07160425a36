"""Numbers and text no planner means: every one is exit 2 with file, row and column, and
nothing is written. Integers are range-checked before any cast (a min_contract_racks of
1e19 used to wrap to -2^63 and pass the re-check), values HiGHS cannot take are refused
with their range (a penalty of 1e20 reached HiGHS as infinite), and ids that look like
other ids or break files are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.helpers import (
    BASE,
    SMALL,
    allocator,
    as_workbook,
    assert_refused,
    copy_instance,
    set_cell,
)

THIRD_PARTY = Path(__file__).resolve().parents[2] / "instances/tiny/third-party-deal-accepted"

CELLS = [
    # (instance, table, data row, column, value, expected message)
    (THIRD_PARTY, "customers", 2, "min_contract_racks", "10000000000000000000", "[0, 1000000000]"),
    (SMALL, "orders", 1, "racks", "1e400", "not a finite number"),
    (SMALL, "orders", 1, "racks", "9223372036854775808", "[1, 1000000000]"),
    (SMALL, "orders", 1, "price_per_rack", "1e300", "[0, 1000000000000]"),
    (SMALL, "products", 1, "initial_inventory", "1e18", "[0, 1000000000]"),
    (SMALL, "orders", 1, "max_delay", "99999999999", "[0, 1200]"),
    (SMALL, "orders", 1, "racks", "-0", "[1, 1000000000]"),
    (SMALL, "orders", 1, "price_per_rack", "nan", "not a number"),
    (SMALL, "orders", 1, "price_per_rack", "-inf", "not a finite number"),
    (SMALL, "services", 1, "margin_per_rack", "1e13", "[0, 1000000000000]"),
    (SMALL, "products", 1, "power_kw", "1e7", "[0, 1000000]"),
]


@pytest.mark.parametrize("source, table, row, column, value, message", CELLS)
def test_extreme_cell_is_refused_in_csv_and_xlsx(
    tmp_path: Path, source: Path, table: str, row: int, column: str, value: str, message: str
) -> None:
    instance = copy_instance(source, tmp_path / "instance")
    set_cell(instance, table, row, column, value)
    result = allocator("solve", instance, "--out", tmp_path / "out", "-q")
    where = f"{table}.csv, row {row + 1}, column {column}"
    assert_refused(result, 2, where, message)
    workbook = as_workbook(instance, tmp_path / "instance.xlsx")
    result = allocator("solve", workbook, "--out", tmp_path / "out", "-q")
    assert_refused(result, 2, f"instance.xlsx[{table}], row {row + 1}, column {column}", message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "line, message",
    [
        ("periods = 9223372036854775807", "must be in [1, 1200]"),
        ("periods = 1000000000", "must be in [1, 1200]"),
        ("periods = 1e400", "must be"),
        ('periods = "1"', "must be a whole number"),
        ("periods = 1.0", "must be a whole number"),
        ("periods = true", "must be a whole number"),
    ],
)
def test_periods_out_of_range_or_of_wrong_type(tmp_path: Path, line: str, message: str) -> None:
    instance = copy_instance(SMALL, tmp_path / "instance")
    toml = instance / "instance.toml"
    toml.write_text(toml.read_text().replace("periods = 1", line))
    result = allocator("validate", instance)
    assert_refused(result, 2, "instance.toml, row 2, column periods", message)


def test_policy_value_highs_cannot_take(tmp_path: Path) -> None:
    instance = copy_instance(SMALL, tmp_path / "instance")
    toml = instance / "instance.toml"
    toml.write_text(toml.read_text().replace("= 1000.0", "= 1e20"))
    result = allocator("solve", instance, "--out", tmp_path / "out", "-q")
    assert_refused(result, 2, "policy.internal_shortfall_penalty", "[0, 1000000000000]")


def test_duplicate_column_and_extra_field(tmp_path: Path) -> None:
    instance = copy_instance(SMALL, tmp_path / "instance")
    orders = instance / "orders.csv"
    lines = orders.read_text().splitlines()
    lines[0] += ",racks"  # a second racks column: pandas silently renamed and ignored it
    lines[1] += ",5"
    orders.write_text("\n".join(lines) + "\n")
    customers = instance / "customers.csv"
    lines = customers.read_text().splitlines()
    lines[2] += ",extra"  # with numeric ids the columns used to shift silently
    customers.write_text("\n".join(lines) + "\n")
    result = allocator("validate", instance)
    assert_refused(
        result,
        2,
        "orders.csv, row 1, column racks: duplicate column name (columns 5 and 9)",
        "customers.csv, row 3: row has 7 fields but the header names 6 columns",
    )


@pytest.mark.parametrize(
    "value, character",
    [("o\x00a", "U+0000"), ("o\u202ea", "U+202E"), ("o\u200ba", "U+200B"), ('"o\na"', "U+000A")],
)
def test_invisible_or_control_characters_in_ids(tmp_path: Path, value: str, character: str) -> None:
    instance = copy_instance(SMALL, tmp_path / "instance")
    set_cell(instance, "orders", 1, "order", value)
    result = allocator("validate", instance)
    assert_refused(result, 2, "orders.csv, row 2, column order", character)


def test_valid_extremes_still_solve(tmp_path: Path) -> None:
    """At the documented maxima the instance is valid and HiGHS solves it."""
    instance = copy_instance(SMALL, tmp_path / "instance")
    set_cell(instance, "orders", 1, "price_per_rack", "1000000000000")
    set_cell(instance, "orders", 1, "racks", "1000000000")
    set_cell(instance, "supply", 1, "base_racks", "1000000000")
    result = allocator("solve", instance, "--out", tmp_path / "out", "-q")
    assert result.returncode == 0, result.stderr
    summary = (tmp_path / "out" / "summary.json").read_text()
    assert '"status": "optimal"' in summary


def test_base_instance_stays_valid() -> None:
    assert allocator("validate", BASE).returncode == 0
