"""Bad input is reported whole (file, row, column), exit 2, and never touches --out;
valid-but-unusual input (spreadsheet CSVs, reordered columns, optional parts left out,
an .xlsx workbook) solves exactly like the plain folder.

Most runs go through typer's CliRunner in-process; a few through the installed
``allocator`` command in a subprocess, to test the real exit code.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from allocator.cli import app

BASE = Path(__file__).resolve().parents[2] / "instances" / "tiny" / "third-party-deal-accepted"
BASE_OBJECTIVE = 500.0
RUNNER = CliRunner()


def cli(*args: str | Path) -> Result:
    return RUNNER.invoke(app, [str(arg) for arg in args], catch_exceptions=False)


# --- editing a copy of the base instance ---------------------------------------------


def copy_base(tmp_path: Path, name: str = "inst") -> Path:
    return Path(shutil.copytree(BASE, tmp_path / name))


def read_rows(folder: Path, table: str) -> list[list[str]]:
    with (folder / f"{table}.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def write_rows(folder: Path, table: str, rows: list[list[str]]) -> None:
    with (folder / f"{table}.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def set_cell(folder: Path, table: str, row: int, column: str, value: str) -> None:
    """Set one cell; ``row`` is the file line (header = 1), as the messages count."""
    rows = read_rows(folder, table)
    rows[row - 1][rows[0].index(column)] = value
    write_rows(folder, table, rows)


def append_row(folder: Path, table: str, *values: str) -> None:
    write_rows(folder, table, [*read_rows(folder, table), list(values)])


def drop_column(folder: Path, table: str, column: str) -> None:
    rows = read_rows(folder, table)
    position = rows[0].index(column)
    write_rows(folder, table, [row[:position] + row[position + 1 :] for row in rows])


def edit_toml(folder: Path, old: str, new: str) -> None:
    path = folder / "instance.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def add_service(folder: Path, customer: str, rate: str) -> None:
    append_row(folder, "services", "storage", "P", "10")
    append_row(folder, "attach", customer, "storage", rate)


# --- checking the outcome ------------------------------------------------------------


def problem_lines(result: Result) -> list[str]:
    """The listed problems; checks the header's count matches the list."""
    assert result.exit_code == 2, result.output
    text = result.stderr
    header = re.search(r"invalid instance .*: (\d+) problems?$", text, re.MULTILINE)
    assert header, text
    lines = [line[4:] for line in text.splitlines() if line.startswith("  - ")]
    assert int(header.group(1)) == len(lines), text
    return lines


def assert_reported(result: Result, expected: list[tuple[str, str]]) -> None:
    """Exactly the expected problems: ``(where, what)``, where = 'file, row R, column C'."""
    lines = problem_lines(result)
    assert len(lines) == len(expected), "\n".join(lines)
    for where, what in expected:
        hits = [line for line in lines if line.startswith(f"{where}: ") and what in line]
        assert hits, f"no problem {where!r} ~ {what!r} in:\n" + "\n".join(lines)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def stray_siblings(parent: Path) -> list[str]:
    return sorted(path.name for path in parent.iterdir() if ".partial-" in path.name)


@pytest.fixture(scope="module")
def earlier_result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real result of the valid base instance, copied where a test needs one."""
    out = tmp_path_factory.mktemp("earlier") / "result"
    result = cli("solve", BASE, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    return out


# --- one bad thing at a time ---------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Callable[[Path], None]
    expected: list[tuple[str, str]]


CASES = [
    Case(
        "negative-racks",
        lambda d: set_cell(d, "orders", 3, "racks", "-1"),
        [("orders.csv, row 3, column racks", "must be in [1, 1000000000]")],
    ),
    Case(
        "fractional-racks",
        lambda d: set_cell(d, "orders", 3, "racks", "2.5"),
        [("orders.csv, row 3, column racks", "whole number")],
    ),
    Case(
        "non-numeric-racks",
        lambda d: set_cell(d, "orders", 3, "racks", "abc"),
        [("orders.csv, row 3, column racks", "not a number (got 'abc')")],
    ),
    Case(
        "unknown-customer",
        lambda d: set_cell(d, "orders", 3, "customer", "Z"),
        [("orders.csv, row 3, column customer", "unknown customer 'Z'")],
    ),
    Case(
        "unknown-product",
        lambda d: set_cell(d, "orders", 2, "product", "Q"),
        [("orders.csv, row 2, column product", "unknown product 'Q'")],
    ),
    Case(
        "unknown-product-in-supply",
        lambda d: append_row(d, "supply", "Q", "1", "1", "0", "0"),
        [("supply.csv, row 3, column product", "unknown product 'Q'")],
    ),
    Case(
        "unknown-service-in-attach",
        lambda d: append_row(d, "attach", "B", "storage", "0.5"),
        [("attach.csv, row 2, column service", "unknown service 'storage'")],
    ),
    Case(
        "duplicate-order",
        lambda d: set_cell(d, "orders", 3, "order", "ot"),
        [("orders.csv, row 3, column order", "duplicate order 'ot' (first at row 2)")],
    ),
    Case(
        "duplicate-customer",
        lambda d: append_row(d, "customers", "B", "internal", "eu-west-1", "0", "0", "0"),
        [("customers.csv, row 4, column customer", "duplicate customer 'B'")],
    ),
    Case(
        "duplicate-supply-product-period",
        lambda d: append_row(d, "supply", "P", "1", "5", "0", "0"),
        [("supply.csv, row 3, column product", "duplicate product/period")],
    ),
    Case(
        "attach-rate-above-1",
        lambda d: add_service(d, "B", "1.5"),
        [("attach.csv, row 2, column attach_rate", "must be in [0, 1]")],
    ),
    Case(
        "attach-rate-negative",
        lambda d: add_service(d, "B", "-0.1"),
        [("attach.csv, row 2, column attach_rate", "must be in [0, 1]")],
    ),
    Case(
        "min-fill-above-1",
        lambda d: set_cell(d, "customers", 3, "min_fill", "1.2"),
        [("customers.csv, row 3, column min_fill", "must be in [0, 1]")],
    ),
    Case(
        "third-party-max-share-above-1",
        lambda d: edit_toml(d, "third_party_max_share = 1.0", "third_party_max_share = 1.5"),
        [("instance.toml, row 6, column policy.third_party_max_share", "must be in [0, 1]")],
    ),
    Case(
        "periods-zero",
        lambda d: edit_toml(d, "periods = 1", "periods = 0"),
        [("instance.toml, row 2, column periods", "must be in [1, 1200]")],
    ),
    Case(
        "period-zero",
        lambda d: set_cell(d, "orders", 2, "period", "0"),
        [("orders.csv, row 2, column period", "must be in [1, 1]")],
    ),
    Case(
        "period-after-horizon",
        lambda d: set_cell(d, "orders", 3, "period", "2"),
        [("orders.csv, row 3, column period", "must be in [1, 1]")],
    ),
    Case(
        "supply-period-after-horizon",
        lambda d: set_cell(d, "supply", 2, "period", "3"),
        [("supply.csv, row 2, column period", "must be in [1, 1]")],
    ),
    Case(
        "available-from-after-horizon",
        lambda d: set_cell(d, "products", 2, "available_from", "2"),
        [("products.csv, row 2, column available_from", "must be in [1, 1]")],
    ),
    Case(
        "negative-max-delay",
        lambda d: set_cell(d, "orders", 2, "max_delay", "-1"),
        [("orders.csv, row 2, column max_delay", "must be in [0, 1200]")],
    ),
    Case(
        "negative-surplus-cost",
        lambda d: set_cell(d, "supply", 2, "surplus_cost", "-5"),
        [("supply.csv, row 2, column surplus_cost", "must be in [0, 1000000000000]")],
    ),
    Case(
        "missing-file",
        lambda d: (d / "customers.csv").unlink(),
        [("customers.csv", "file is missing")],
    ),
    Case(
        "missing-toml",
        lambda d: (d / "instance.toml").unlink(),
        [("instance.toml", "file is missing")],
    ),
    Case(
        "missing-column",
        lambda d: drop_column(d, "orders", "price_per_rack"),
        [("orders.csv, row 1, column price_per_rack", "column is missing")],
    ),
    Case(
        "empty-file",
        lambda d: (d / "orders.csv").write_bytes(b""),
        [("orders.csv, row 1", "file is empty")],
    ),
    Case(
        "malformed-toml",
        lambda d: edit_toml(d, 'start = "2027-01"', 'start = "2027-01'),
        [("instance.toml, row 3", "malformed TOML")],
    ),
    Case(
        "missing-toml-key",
        lambda d: edit_toml(d, "internal_shortfall_penalty = 1000.0\n", ""),
        [("instance.toml, column policy.internal_shortfall_penalty", "required key is missing")],
    ),
    Case(
        "nan-price",
        lambda d: set_cell(d, "orders", 2, "price_per_rack", "nan"),
        [("orders.csv, row 2, column price_per_rack", "not a number (got 'nan')")],
    ),
    Case(
        "inf-price",
        lambda d: set_cell(d, "orders", 3, "price_per_rack", "inf"),
        [("orders.csv, row 3, column price_per_rack", "not a finite number (got 'inf')")],
    ),
    Case(
        "nan-racks",
        lambda d: set_cell(d, "orders", 2, "racks", "NaN"),
        [("orders.csv, row 2, column racks", "not a number")],
    ),
    Case(
        "inf-wafers",
        lambda d: set_cell(d, "products", 2, "wafers_per_rack", "-inf"),
        [("products.csv, row 2, column wafers_per_rack", "not a finite number")],
    ),
    Case(
        "nan-in-toml",
        lambda d: edit_toml(d, "penalty = 1000.0", "penalty = nan"),
        [("instance.toml, row 7, column policy.internal_shortfall_penalty", "finite number")],
    ),
    Case(
        "empty-cell",
        lambda d: set_cell(d, "orders", 2, "price_per_rack", ""),
        [("orders.csv, row 2, column price_per_rack", "missing value")],
    ),
    Case(
        "empty-id",
        lambda d: set_cell(d, "orders", 3, "order", " "),
        [("orders.csv, row 3, column order", "missing value")],
    ),
    Case(
        "short-row",
        lambda d: (d / "orders.csv").write_text(
            (d / "orders.csv").read_text(encoding="utf-8").replace(",100,0,0\n", ",100\n"),
            encoding="utf-8",
        ),
        [
            ("orders.csv, row 3, column max_delay", "missing value"),
            ("orders.csv, row 3, column delay_penalty", "missing value"),
        ],
    ),
    Case(
        "bad-segment",
        lambda d: set_cell(d, "customers", 3, "segment", "external"),
        [("customers.csv, row 3, column segment", "must be one of internal, third_party")],
    ),
    Case(
        "min-fill-for-third-party",
        lambda d: set_cell(d, "customers", 2, "min_fill", "0.5"),
        [("customers.csv, row 2, column min_fill", "must be 0 for a third_party customer")],
    ),
    Case(
        "onboarding-cost-for-internal",
        lambda d: set_cell(d, "customers", 3, "onboarding_cost", "7"),
        [("customers.csv, row 3, column onboarding_cost", "must be 0 for an internal customer")],
    ),
    Case(
        # A blank line is not a row, but the message still counts file lines.
        "row-after-blank-line",
        lambda d: (d / "orders.csv").write_text(
            "order,customer,product,period,racks,price_per_rack,max_delay,delay_penalty\n"
            "ot,T,P,1,3,200,0,0\n\nob,B,P,1,x,100,0,0\n",
            encoding="utf-8",
        ),
        [("orders.csv, row 4, column racks", "not a number (got 'x')")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_invalid_instance_is_reported_and_writes_nothing(
    case: Case, tmp_path: Path, earlier_result: Path
) -> None:
    instance = copy_base(tmp_path)
    case.mutate(instance)

    fresh = tmp_path / "new" / "out"
    assert_reported(cli("solve", instance, "--out", fresh, "-q"), case.expected)
    assert not fresh.parent.exists()

    out = Path(shutil.copytree(earlier_result, tmp_path / "out"))
    before = snapshot(out)
    assert_reported(cli("solve", instance, "--out", out, "-q"), case.expected)
    assert snapshot(out) == before
    assert stray_siblings(tmp_path) == []


# --- the real command in a subprocess ------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "where", "fresh"),
    [
        (
            lambda d: set_cell(d, "orders", 3, "racks", "-2"),
            "orders.csv, row 3, column racks: ",
            False,
        ),
        (lambda d: (d / "customers.csv").unlink(), "customers.csv: file is missing", True),
        (
            lambda d: edit_toml(d, "[policy]", "[policy"),
            "instance.toml, row 5: malformed TOML",
            False,
        ),
    ],
    ids=["bad-cell", "missing-file", "malformed-toml"],
)
def test_subprocess_invalid_exit_2_writes_nothing(
    mutate: Callable[[Path], None], where: str, fresh: bool, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    if not fresh:
        assert cli("solve", BASE, "--out", out, "-q").exit_code == 0
        before = snapshot(out)
    instance = copy_base(tmp_path)
    mutate(instance)
    run = subprocess.run(
        [sys.executable, "-m", "allocator", "solve", str(instance), "--out", str(out), "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert where in run.stderr
    if fresh:
        assert not out.exists()
    else:
        assert snapshot(out) == before
    assert stray_siblings(tmp_path) == []


# --- everything at once, and `allocator validate` ------------------------------------


def break_four_files(folder: Path) -> None:
    set_cell(folder, "orders", 2, "racks", "2.5")
    set_cell(folder, "customers", 3, "segment", "internl")
    set_cell(folder, "products", 2, "available_from", "0")
    edit_toml(folder, "third_party_max_share = 1.0", "third_party_max_share = 2")


FOUR_PROBLEMS = [
    ("orders.csv, row 2, column racks", "whole number"),
    ("customers.csv, row 3, column segment", "must be one of"),
    ("products.csv, row 2, column available_from", "must be in [1, "),
    ("instance.toml, row 6, column policy.third_party_max_share", "must be in [0, 1]"),
]


def test_problems_in_several_files_are_listed_in_one_message(tmp_path: Path) -> None:
    instance = copy_base(tmp_path)
    break_four_files(instance)
    result = cli("solve", instance, "--out", tmp_path / "out", "-q")
    assert "4 problems" in result.stderr
    assert_reported(result, FOUR_PROBLEMS)
    assert not (tmp_path / "out").exists()


def test_validate_command(tmp_path: Path) -> None:
    valid = cli("validate", BASE)
    assert valid.exit_code == 0, valid.output
    assert "valid" in valid.stdout

    instance = copy_base(tmp_path)
    break_four_files(instance)
    checked = cli("validate", instance)
    assert_reported(checked, FOUR_PROBLEMS)
    solved = cli("solve", instance, "--out", tmp_path / "out", "-q")
    assert checked.stderr == solved.stderr


def test_invalid_instance_writes_no_model_file(tmp_path: Path) -> None:
    instance = copy_base(tmp_path)
    set_cell(instance, "orders", 3, "racks", "0")
    model = tmp_path / "m" / "model.mps"
    assert_reported(
        cli("solve", instance, "--write-model", model),
        [("orders.csv, row 3, column racks", "must be in [1, 1000000000]")],
    )
    assert not model.parent.exists()


def test_not_an_instance(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    for target in (tmp_path / "notes.txt", tmp_path / "nowhere"):
        lines = problem_lines(cli("validate", target))
        assert len(lines) == 1
        assert "not an instance folder or .xlsx workbook" in lines[0]


# --- valid but unusual input ---------------------------------------------------------


def solve_summary(instance: Path, out: Path) -> dict:
    result = cli("solve", instance, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def base_summary(earlier_result: Path) -> dict:
    summary = json.loads((earlier_result / "summary.json").read_text(encoding="utf-8"))
    assert summary["objective"] == pytest.approx(BASE_OBJECTIVE)
    return summary


def spreadsheet_style(folder: Path) -> None:
    """Every file as Excel saves 'CSV UTF-8': byte-order mark and CRLF line ends."""
    for path in [*folder.glob("*.csv"), folder / "instance.toml"]:
        text = path.read_text(encoding="utf-8").replace("\n", "\r\n")
        path.write_bytes("\ufeff".encode() + text.encode("utf-8"))


def reverse_columns(folder: Path) -> None:
    for path in folder.glob("*.csv"):
        rows = read_rows(folder, path.stem)
        write_rows(folder, path.stem, [row[::-1] for row in rows])


def header_only_without_newline(folder: Path) -> None:
    (folder / "services.csv").write_text("service,product,margin_per_rack", encoding="utf-8")
    (folder / "attach.csv").write_text("customer,service,attach_rate\n\n", encoding="utf-8")
    (folder / "foundry.csv").write_text("period,surplus_wafers\r\n", encoding="utf-8")


def blank_lines_and_padding(folder: Path) -> None:
    path = folder / "orders.csv"
    rows = path.read_text(encoding="utf-8").splitlines()
    padded = [", ".join(cell.strip() for cell in row.split(",")) for row in rows]
    path.write_text("\n".join([padded[0], "", *padded[1:], "", ""]), encoding="utf-8")


def header_only_regions(folder: Path) -> None:
    assert not (folder / "regions.csv").exists()
    (folder / "regions.csv").write_text("region,period,power_kw\n", encoding="utf-8")


def drop_optional_settings(folder: Path) -> None:
    edit_toml(folder, 'start = "2027-01"\n', "")
    edit_toml(folder, 'currency = "USD"\n', "")


@pytest.mark.parametrize(
    ("edit", "same_content"),
    [
        (spreadsheet_style, True),
        (reverse_columns, True),
        (header_only_without_newline, True),
        (blank_lines_and_padding, True),
        (header_only_regions, True),
        (drop_optional_settings, False),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_unusual_but_valid_input_solves_the_same(
    edit: Callable[[Path], None], same_content: bool, tmp_path: Path, base_summary: dict
) -> None:
    instance = copy_base(tmp_path)
    edit(instance)
    assert cli("validate", instance).exit_code == 0
    summary = solve_summary(instance, tmp_path / "out")
    assert summary["objective"] == pytest.approx(base_summary["objective"])
    same_hash = summary["instance"]["content_hash"] == base_summary["instance"]["content_hash"]
    assert same_hash == same_content


def test_regions_file_is_optional(tmp_path: Path) -> None:
    assert not (BASE / "regions.csv").exists()
    summary = solve_summary(BASE, tmp_path / "out")
    marginal = pd.read_csv(tmp_path / "out" / "marginal_values.csv")
    assert summary["objective"] == pytest.approx(BASE_OBJECTIVE)
    assert "region_power" not in set(marginal["resource"])


def test_settings_default_when_left_out(tmp_path: Path) -> None:
    instance = copy_base(tmp_path)
    drop_optional_settings(instance)
    summary = solve_summary(instance, tmp_path / "out")
    assert summary["instance"]["start"] is None
    assert summary["currency"] == "USD"


# --- an .xlsx workbook ---------------------------------------------------------------


def write_workbook(folder: Path, path: Path) -> Path:
    """The folder as one workbook: a sheet per table, plus `instance` with key,value rows."""
    settings = tomllib.loads((folder / "instance.toml").read_text(encoding="utf-8"))
    rows = [(key, value) for key, value in settings.items() if key != "policy"]
    rows += [(f"policy.{key}", value) for key, value in settings["policy"].items()]
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame = pd.DataFrame(rows, columns=["key", "value"])
        frame.to_excel(writer, sheet_name="instance", index=False)
        for csv_path in sorted(folder.glob("*.csv")):
            table = pd.read_csv(csv_path, keep_default_na=False)
            table.to_excel(writer, sheet_name=csv_path.stem, index=False)
    return path


def test_workbook_solves_like_the_folder(tmp_path: Path, base_summary: dict) -> None:
    workbook = write_workbook(BASE, tmp_path / "instance.xlsx")
    assert cli("validate", workbook).exit_code == 0
    summary = solve_summary(workbook, tmp_path / "out")
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(base_summary["objective"])
    assert summary["instance"]["content_hash"] == base_summary["instance"]["content_hash"]


def test_workbook_bad_cell_names_sheet_row_and_column(tmp_path: Path, earlier_result: Path) -> None:
    instance = copy_base(tmp_path)
    set_cell(instance, "orders", 3, "racks", "abc")
    edit_toml(instance, "third_party_max_share = 1.0", "third_party_max_share = 3.0")
    workbook = write_workbook(instance, tmp_path / "bad.xlsx")
    out = Path(shutil.copytree(earlier_result, tmp_path / "out"))
    before = snapshot(out)
    expected = [
        ("bad.xlsx[orders], row 3, column racks", "not a number (got 'abc')"),
        ("bad.xlsx[instance], row 6, column policy.third_party_max_share", "must be in [0, 1]"),
    ]
    assert_reported(cli("solve", workbook, "--out", out, "-q"), expected)
    assert snapshot(out) == before
    assert stray_siblings(tmp_path) == []


def test_workbook_missing_sheet(tmp_path: Path) -> None:
    instance = copy_base(tmp_path)
    (instance / "customers.csv").unlink()
    workbook = write_workbook(instance, tmp_path / "partial.xlsx")
    assert_reported(cli("validate", workbook), [("partial.xlsx[customers]", "sheet is missing")])
