"""Priority tiers as input: customers.csv ``priority`` (optional; a missing column or an
empty cell is 1), ``[policy] priority_rule`` and ``fair_share``; every problem listed with
file, row and column or key (exit 2, nothing written); an instance without them, or with
them at their defaults, is exactly the instance it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from allocator.cli import app
from allocator.data.validate import load_instance

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "instances" / "tiny"
TIERED = TINY / "priority-tier-before-price"
PLAIN = TINY / "third-party-deal-accepted"
CUSTOMERS = "customer,segment,region,min_fill,onboarding_cost,min_contract_racks,priority\n"


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def copy(tmp_path: Path, source: Path = TIERED) -> Path:
    return Path(shutil.copytree(source, tmp_path / "instance"))


def test_missing_column_and_empty_cells_mean_priority_1(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    (folder / "customers.csv").write_text(
        CUSTOMERS + "R,internal,us-east-1,0,0,0,\nB,third_party,dc-1,0,0,0,3\n", encoding="utf-8"
    )
    assert load_instance(folder).customers["priority"].tolist() == [1, 3]
    plain = load_instance(PLAIN)
    assert plain.customers["priority"].tolist() == [1, 1]
    assert plain.policy.priority_rule == "profit" and plain.policy.fair_share is False


def test_defaults_written_out_hash_as_the_instance_without_them(tmp_path: Path) -> None:
    folder = copy(tmp_path, PLAIN)
    customers = pd.read_csv(folder / "customers.csv", keep_default_na=False)
    customers["priority"] = 1
    customers.to_csv(folder / "customers.csv", index=False)
    toml = (folder / "instance.toml").read_text(encoding="utf-8")
    toml += 'priority_rule = "profit"\nfair_share = false\n'
    (folder / "instance.toml").write_text(toml, encoding="utf-8")
    assert load_instance(folder).content_hash == load_instance(PLAIN).content_hash
    customers["priority"] = [1, 2]
    customers.to_csv(folder / "customers.csv", index=False)
    assert load_instance(folder).content_hash != load_instance(PLAIN).content_hash


@pytest.mark.parametrize(
    "cell, what",
    [
        ("0", "must be in [1, 1000000]"),
        ("-2", "must be in [1, 1000000]"),
        ("1.5", "must be a whole number"),
        ("high", "not a number"),
    ],
)
def test_a_bad_priority_is_named_and_nothing_is_written(
    tmp_path: Path, cell: str, what: str
) -> None:
    folder = copy(tmp_path)
    (folder / "customers.csv").write_text(
        CUSTOMERS + f"R,internal,us-east-1,0,0,0,{cell}\nB,third_party,dc-1,0,0,0,2\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = cli("solve", folder, "--out", out, "-q")
    assert result.exit_code == 2, result.output
    assert "customers.csv, row 2, column priority: " + what in result.stderr, result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "lines, key, what",
    [
        (
            'priority_rule = "fairness"\n',
            "policy.priority_rule",
            "must be one of profit, lexicographic",
        ),
        ("priority_rule = 1\n", "policy.priority_rule", "must be one of profit, lexicographic"),
        ('fair_share = "yes"\n', "policy.fair_share", "must be true or false"),
        ("fair_share = 1\n", "policy.fair_share", "must be true or false"),
    ],
)
def test_a_bad_policy_key_is_named(tmp_path: Path, lines: str, key: str, what: str) -> None:
    folder = copy(tmp_path, PLAIN)
    toml = (folder / "instance.toml").read_text(encoding="utf-8") + lines
    (folder / "instance.toml").write_text(toml, encoding="utf-8")
    result = cli("validate", folder)
    assert result.exit_code == 2
    assert key in result.stderr and what in result.stderr, result.stderr


def test_every_problem_in_one_message(tmp_path: Path) -> None:
    folder = copy(tmp_path)
    (folder / "customers.csv").write_text(
        CUSTOMERS + "R,internal,us-east-1,0,0,0,0\nB,third_party,dc-1,0,0,0,x\n", encoding="utf-8"
    )
    toml = (folder / "instance.toml").read_text(encoding="utf-8")
    toml = toml.replace('priority_rule = "lexicographic"', 'priority_rule = "first"')
    toml += 'fair_share = "sometimes"\n'
    (folder / "instance.toml").write_text(toml, encoding="utf-8")
    result = cli("validate", folder)
    assert result.exit_code == 2
    for expected in (
        "customers.csv, row 2, column priority",
        "customers.csv, row 3, column priority",
        "policy.priority_rule",
        "policy.fair_share",
    ):
        assert expected in result.stderr, result.stderr


def test_a_workbook_takes_the_keys_as_text(tmp_path: Path) -> None:
    """In an .xlsx every setting is a text cell: ``lexicographic`` and ``TRUE`` read."""
    folder = copy(tmp_path)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "instance"
    sheet.append(["key", "value"])
    for key, value in (
        ("name", "tiered"),
        ("periods", "1"),
        ("policy.third_party_max_share", "1"),
        ("policy.internal_shortfall_penalty", "0"),
        ("policy.priority_rule", "lexicographic"),
        ("policy.fair_share", "TRUE"),
    ):
        sheet.append([key, value])
    for csv in sorted(folder.glob("*.csv")):
        frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
        table = book.create_sheet(csv.stem)
        table.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            table.append(list(row))
    path = tmp_path / "tiered.xlsx"
    book.save(path)
    instance = load_instance(path)
    assert instance.policy.priority_rule == "lexicographic" and instance.policy.fair_share
    assert instance.customers["priority"].tolist() == [1, 2]
