"""A product's delay as a sweep dimension (``--vary delay.PRODUCT=K,...``, the Trainium4
slip): the tables it gives, by hand; its cost on a hand-checked tiny instance where a
substitute takes over; every row equal to a separate solve of the delayed instance
written out by the test; bad delays exit 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from allocator.whatif.scenarios import delayed_product
from allocator.whatif.spec import WhatifError, parse_vary
from tests.whatif.helpers import TINY, cli, summary_of, sweep_of

SLIP = TINY / "substitute-covers-a-slip"


def test_delay_moves_the_products_first_month_and_supply() -> None:
    tables = {
        "products": pd.DataFrame({"product": ["T", "T4"], "available_from": [1, 2]}),
        "supply": pd.DataFrame(
            {
                "product": ["T4", "T4", "T4", "T4", "T"],
                "period": [1, 2, 3, 4, 1],
                "base_racks": [0, 5, 7, 9, 3],
                "surplus_max_racks": [0, 1, 2, 3, 4],
                "surplus_cost": [8.0, 9.0, 10.0, 11.0, 1.0],
            }
        ),
    }
    delayed = delayed_product(tables, "T4", 2)
    assert delayed["products"]["available_from"].tolist() == [1, 4]
    supply = delayed["supply"]
    assert supply["base_racks"].tolist() == [0, 0, 0, 5, 3]  # 7 and 9 fall past month 4
    assert supply["surplus_max_racks"].tolist() == [0, 0, 0, 1, 4]
    assert supply["surplus_cost"].tolist() == [8.0, 8.0, 8.0, 9.0, 1.0]
    assert tables["supply"]["base_racks"].tolist() == [0, 5, 7, 9, 3]  # a copy
    assert delayed_product(tables, "T4", 0) is tables


def test_a_slip_costs_the_delay_penalty_until_the_substitute_wins(tmp_path: Path) -> None:
    """o1 orders 1 rack of T4 for month 2 at 100, delay penalty 10 a month, window to
    month 6, or T at 65 (one rack in stock from month 1). T4's one rack comes in month
    2 + k: worth 100 - 10k, until T at 65 beats T4 in month 6 (60)."""
    out = tmp_path / "sweep"
    result = cli(
        "whatif", SLIP, "--out", out, "--vary", "delay.T4=1,2,3,4", "--mip-gap", "0",
        "--workers", "1", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = sweep_of(out)
    assert table["delay.T4"].tolist() == [0, 1, 2, 3, 4]  # 0, the reference, added first
    assert table["objective"].tolist() == [100.0, 90.0, 80.0, 70.0, 65.0]
    assert table["slip_cost_T4"].tolist() == [0.0, 10.0, 20.0, 30.0, 35.0]
    late = pd.read_csv(out / "scenarios" / "surplus-x1__delay.T4-4" / "allocation.csv")
    shipped = late[late["racks"] > 0]
    assert shipped[["product", "ordered_product", "ship_period"]].values.tolist() == [
        ["T", "T4", 2]
    ]


def test_slip_cost_is_taken_at_the_same_other_values(tmp_path: Path) -> None:
    """With the substitute at half price (32.5) waiting stays better: the slip of 4
    months costs 40 there, against 35 at full price."""
    out = tmp_path / "sweep"
    result = cli(
        "whatif", SLIP, "--out", out, "--vary", "delay.T4=4",
        "--vary", "substitutes.price_per_rack=1,0.5", "--mip-gap", "0", "--workers", "1", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = sweep_of(out)
    costs = {
        (row["delay.T4"], row["substitutes.price_per_rack"]): row["slip_cost_T4"]
        for _, row in table.iterrows()
    }
    assert costs == {(0, 1.0): 0.0, (0, 0.5): 0.0, (4, 1.0): 35.0, (4, 0.5): 40.0}


def _delayed_copy(source: Path, target: Path, product: str, months: int) -> Path:
    """The instance with ``product`` ``months`` later, written from the contract's words
    (available_from + k; supply of month t from month t - k, none before)."""
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    products = pd.read_csv(source / "products.csv", dtype={"product": str})
    products.loc[products["product"] == product, "available_from"] += months
    products.to_csv(target / "products.csv", index=False)
    supply = pd.read_csv(source / "supply.csv", dtype={"product": str})
    rows = []
    for row in supply.to_dict("records"):
        if row["product"] == product:
            earlier = supply[
                (supply["product"] == product) & (supply["period"] == row["period"] - months)
            ]
            if len(earlier):
                for column in ("base_racks", "surplus_max_racks", "surplus_cost"):
                    row[column] = earlier.iloc[0][column]
            else:
                row["base_racks"] = row["surplus_max_racks"] = 0
        rows.append(row)
    pd.DataFrame(rows, columns=supply.columns).to_csv(target / "supply.csv", index=False)
    return target


@pytest.mark.parametrize("months", [2, 5])
def test_each_delayed_row_equals_a_separate_solve(tmp_path: Path, months: int) -> None:
    instance = tmp_path / "instance"
    made = cli(
        "generate", instance, "--regions", "2", "--buyers", "5", "--periods", "20",
        "--seed", "4", "--substitutes", "0.5",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    out = tmp_path / "sweep"
    result = cli(
        "whatif", instance, "--out", out, "--vary", f"delay.trainium4={months}",
        "--surplus-scale", "0.5,1", "--mip-gap", "0", "--workers", "1", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = sweep_of(out)
    for scale in (0.5, 1.0):
        on_time = table[(table["surplus_scale"] == scale) & (table["delay.trainium4"] == 0)]
        late = table[(table["surplus_scale"] == scale) & (table["delay.trainium4"] == months)]
        cost = on_time["objective"].iloc[0] - late["objective"].iloc[0]
        assert late["slip_cost_trainium4"].iloc[0] == pytest.approx(cost, rel=1e-12)
        assert cost > 0  # trainium4 orders and substitutes wait for it here
    delayed = _delayed_copy(instance, tmp_path / "delayed", "trainium4", months)
    alone = cli("solve", delayed, "--out", tmp_path / "alone", "--mip-gap", "0", "-q")
    assert alone.exit_code == 0, alone.output
    row = table[(table["surplus_scale"] == 1.0) & (table["delay.trainium4"] == months)].iloc[0]
    separate = summary_of(tmp_path / "alone")
    assert row["status"] == separate["status"] == "optimal"
    assert row["objective"] == pytest.approx(separate["objective"], rel=1e-12)
    swept = out / "scenarios" / str(row.name)
    for file in ("allocation.csv", "surplus.csv", "customers.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(swept / file), pd.read_csv(tmp_path / "alone" / file)
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("delay.T4=-1", "whole number of months >= 0"),
        ("delay.T4=1.5", "whole number of months >= 0"),
        ("delay=1", "delay.PRODUCT"),
    ],
)
def test_bad_delay_is_named(text: str, message: str) -> None:
    with pytest.raises(WhatifError, match=message):
        parse_vary(text)


@pytest.mark.parametrize(
    ("vary", "message"),
    [
        ("delay.T5=1", "unknown product 'T5' (known: T, T4)"),
        ("delay.T4=5", "moves T4's first month to 7, past the last period (6)"),
    ],
)
def test_delay_outside_the_instance_exits_2(tmp_path: Path, vary: str, message: str) -> None:
    out = tmp_path / "out"
    result = cli("whatif", SLIP, "--out", out, "--vary", vary, "-q")
    assert result.exit_code == 2
    assert message in result.stderr
    assert not out.exists()
