"""The generation view of a plan with substitutes: racks by ordered and shipped product
per month, the orders served by another product, in report.html (opened in Chromium)
and plan.xlsx; a plan without substitutes has neither."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from allocator.cli import app
from allocator.outputs.generations import generation_flows, substitute_orders
from tests.browser import chromium_path, ink, visit

ROOT = Path(__file__).resolve().parents[2]
RUNNER = CliRunner()


def _allocation(rows: list[tuple[str, str, str, str, int, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows,
        columns=[
            "order",
            "customer",
            "ordered_product",
            "product",
            "period",
            "ship_period",
            "racks",
        ],
    )


def test_flows_and_substitute_orders_by_hand() -> None:
    """o1 (T) ships 2 T in month 1 and waits for 3 T4 in months 4 and 5; o2 (T4) takes
    1 T now; o3 ships only its own T4 (not a substitute order); a zero row is dropped."""
    allocation = _allocation(
        [
            ("o1", "A", "T", "T", 1, 1, 2),
            ("o1", "A", "T", "T4", 1, 4, 1),
            ("o1", "A", "T", "T4", 1, 5, 2),
            ("o2", "B", "T4", "T", 2, 2, 1),
            ("o3", "B", "T4", "T4", 4, 4, 5),
            ("o3", "B", "T4", "T", 4, 4, 0),
        ]
    )
    flows = generation_flows(allocation)
    assert flows.to_dict("records") == [
        {"ship_period": 1, "ordered_product": "T", "product": "T", "racks": 2},
        {"ship_period": 2, "ordered_product": "T4", "product": "T", "racks": 1},
        {"ship_period": 4, "ordered_product": "T", "product": "T4", "racks": 1},
        {"ship_period": 4, "ordered_product": "T4", "product": "T4", "racks": 5},
        {"ship_period": 5, "ordered_product": "T", "product": "T4", "racks": 2},
    ]
    orders = substitute_orders(allocation)
    assert orders.to_dict("records") == [
        {
            "customer": "A",
            "order": "o1",
            "ordered_product": "T",
            "product": "T4",
            "period": 1,
            "first_ship_period": 4,
            "last_ship_period": 5,
            "racks": 3,
        },
        {
            "customer": "B",
            "order": "o2",
            "ordered_product": "T4",
            "product": "T",
            "period": 2,
            "first_ship_period": 2,
            "last_ship_period": 2,
            "racks": 1,
        },
    ]


def test_no_substitutes_no_view() -> None:
    plain = _allocation([("o1", "A", "T", "T", 1, 1, 2)]).drop(columns="ordered_product")
    assert generation_flows(plain).empty and substitute_orders(plain).empty
    assert generation_flows(None).empty


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated instance where a third of the orders have a substitute, solved with
    --report."""
    base = tmp_path_factory.mktemp("generations")
    instance = base / "instance"
    args = ["--regions", "3", "--buyers", "6", "--periods", "18", "--seed", "3"]
    made = RUNNER.invoke(app, ["generate", str(instance), *args, "--substitutes", "0.5"])
    assert made.exit_code == 0, made.output
    out = base / "out"
    result = RUNNER.invoke(app, ["solve", str(instance), "--out", str(out), "-q", "--report"])
    assert result.exit_code == 0, result.output
    return out


def test_views_agree_with_the_written_plan(solved: Path) -> None:
    allocation = pd.read_csv(solved / "allocation.csv")
    customers = pd.read_csv(solved / "customers.csv")
    flows = generation_flows(allocation)
    assert flows["racks"].sum() == allocation["racks"].sum()
    orders = substitute_orders(allocation)
    assert len(orders) > 0, "the generated plan ships no substitute"
    by_customer = orders.groupby("customer")["racks"].sum()
    expected = customers.set_index("customer")["substitute_racks"]
    assert by_customer.reindex(expected.index, fill_value=0).tolist() == expected.tolist()

    book = openpyxl.load_workbook(solved / "plan.xlsx", read_only=True)
    sheet = book["substitutes"]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    assert header[:4] == ["customer", "order", "ordered_product", "product"]
    assert "first_ship_month" in header
    assert sum(row[header.index("racks")] for row in rows[1:]) == orders["racks"].sum()
    flow_rows = list(book["generations"].iter_rows(values_only=True))
    assert sum(row[-1] for row in flow_rows[1:]) == allocation["racks"].sum()

    page = (solved / "report.html").read_text(encoding="utf-8")
    assert 'id="chart-generations"' in page and 'id="table-substitutes"' in page
    assert f"{orders['order'].nunique():,} orders took a substitute" in page


def test_plan_without_substitutes_has_no_generation_view(tmp_path: Path) -> None:
    out = tmp_path / "out"
    instance = ROOT / "instances" / "tiny" / "substitute-wins-on-price"
    plain = tmp_path / "plain"
    plain.mkdir()
    for path in instance.iterdir():
        if path.name not in ("substitutes.csv", "expected.toml"):
            (plain / path.name).write_bytes(path.read_bytes())
    result = RUNNER.invoke(app, ["solve", str(plain), "--out", str(out), "-q", "--report"])
    assert result.exit_code == 0, result.output
    assert "chart-generations" not in (out / "report.html").read_text(encoding="utf-8")
    book = openpyxl.load_workbook(out / "plan.xlsx", read_only=True)
    assert "substitutes" not in book.sheetnames and "generations" not in book.sheetnames


@pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed")
def test_generation_chart_renders_in_chromium(solved: Path) -> None:
    seen = visit(solved / "report.html")
    assert seen.console_errors == [] and seen.outside_requests == []
    charts = {chart["id"]: chart for chart in seen.charts}
    chart = charts["chart-generations"]
    assert chart["svg"] > 0 and chart["marks"] > 0, chart
    share, colours = ink(seen.chart_shots["chart-generations"])
    assert share > 0.02 and colours > 8, (share, colours)
