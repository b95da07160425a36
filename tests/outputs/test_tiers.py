"""The tier view of a plan under the lexicographic rule: report.html's section (opened in
Chromium) and plan.xlsx's sheets priority_stages and tiers, from summary.json; a plan
under the profit rule has neither."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from allocator.cli import app
from tests.browser import chromium_path, ink, visit

TINY = Path(__file__).resolve().parents[2] / "instances" / "tiny"


def solved(tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    result = CliRunner().invoke(
        app, ["solve", str(TINY / name), "--out", str(out), "--mip-gap", "0", "-q", "--report"]
    )
    assert result.exit_code == 0, result.output
    return out


def test_report_and_workbook_show_the_stages_and_tiers(tmp_path: Path) -> None:
    out = solved(tmp_path, "priority-fair-share-split")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="tiers"' in page and 'id="chart-tiers"' in page
    assert "Serving the tiers first costs USD 90 against the profit rule" in page
    assert "USD 5.4 per point" in page  # the fair-share hold: 540 per 1.0 of fill rate
    book = openpyxl.load_workbook(out / "plan.xlsx", read_only=True)
    stages = list(book["priority_stages"].iter_rows(values_only=True))
    assert [row[0] for row in stages[1:]] == ["tier 1 min_fill", "tier 1 racks", "profit"]
    header = list(stages[0])
    assert [row[header.index("value")] for row in stages[1:]] == [0.5, 4, 130]
    tiers = list(book["tiers"].iter_rows(values_only=True))
    assert tiers[1][:4] == (1, 2, 8, 4)


def test_profit_rule_has_no_tier_view(tmp_path: Path) -> None:
    out = solved(tmp_path, "third-party-deal-accepted")
    assert 'id="tiers"' not in (out / "report.html").read_text(encoding="utf-8")
    book = openpyxl.load_workbook(out / "plan.xlsx", read_only=True)
    assert "priority_stages" not in book.sheetnames and "tiers" not in book.sheetnames


@pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed")
def test_tier_chart_renders_in_chromium(tmp_path: Path) -> None:
    out = solved(tmp_path, "priority-tier-before-price")
    seen = visit(out / "report.html")
    assert seen.console_errors == [] and seen.outside_requests == []
    chart = {chart["id"]: chart for chart in seen.charts}["chart-tiers"]
    assert chart["svg"] > 0 and chart["marks"] > 0, chart
    share, colours = ink(seen.chart_shots["chart-tiers"])
    assert share > 0.02 and colours > 8, (share, colours)
