"""report.html: self-contained, opens in a real headless Chromium with no console error
and no network request, and its charts render (screenshots that are not blank); the
`report` command and `solve --report`; a what-if folder's sweep chart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from allocator.cli import app
from allocator.outputs.report import write_report
from tests.browser import chromium_path, ink, visit

ROOT = Path(__file__).resolve().parents[2]
RUNNER = CliRunner()
needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="chromium is not installed (apt-get install chromium)"
)
PLAN_CHARTS = {"chart-waterfall", "chart-waiting", "chart-heatmap", "chart-supply", "chart-wafer"}


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated instance solved with --report: the result folder."""
    from allocator.data.generate import generate_instance

    base = tmp_path_factory.mktemp("report")
    generate_instance(base / "instance", regions=3, buyers=6, periods=12, seed=5)
    out = base / "out"
    result = RUNNER.invoke(
        app, ["solve", str(base / "instance"), "--out", str(out), "-q", "--report"]
    )
    assert result.exit_code == 0, result.output
    return out


def test_solve_report_writes_page_and_workbook(solved: Path) -> None:
    assert (solved / "report.html").stat().st_size > 100_000
    assert (solved / "plan.xlsx").stat().st_size > 5_000
    assert [path.name for path in solved.iterdir() if path.name.startswith(".")] == [".allocator"]


def test_page_is_self_contained(solved: Path) -> None:
    page = (solved / "report.html").read_text(encoding="utf-8")
    lowered = page.lower()
    assert "<script src" not in lowered and "<link" not in lowered
    assert "@import" not in lowered and "url(http" not in lowered
    for chart in PLAN_CHARTS:
        assert f'id="{chart}"' in page
    labels = json.loads((solved / "summary.json").read_text())["instance"]["start"]
    assert labels in page  # months are labelled from instance.toml's start


@needs_chromium
def test_page_opens_offline_in_chromium_and_charts_render(solved: Path) -> None:
    seen = visit(solved / "report.html")
    assert seen.console_errors == []
    assert seen.outside_requests == []
    assert {chart["id"] for chart in seen.charts} == PLAN_CHARTS
    for chart in seen.charts:
        assert chart["svg"] > 0 and chart["marks"] > 0, chart
        assert chart["width"] > 300 and chart["height"] > 200, chart
        share, colours = ink(seen.chart_shots[chart["id"]])
        assert share > 0.02 and colours > 8, (chart["id"], share, colours)
    share, colours = ink(seen.screenshot)
    assert share > 0.2 and colours > 100


def test_report_command_explains_an_older_result(solved: Path, tmp_path: Path) -> None:
    """A result whose customers.csv has no why_short gets it from the instance."""
    folder = tmp_path / "older"
    folder.mkdir()
    for path in solved.iterdir():
        if path.suffix in (".csv", ".json"):
            (folder / path.name).write_bytes(path.read_bytes())
    customers = pd.read_csv(folder / "customers.csv")
    expected = customers.pop("why_short")
    customers.to_csv(folder / "customers.csv", index=False)

    summary = json.loads((folder / "summary.json").read_text())
    summary["instance"]["source"] = str(tmp_path / "moved-away")
    (folder / "summary.json").write_text(json.dumps(summary))
    missing = RUNNER.invoke(app, ["report", str(folder)])
    assert missing.exit_code == 1
    assert "--instance" in missing.output
    assert not (folder / "report.html").exists()

    instance = solved.parent / "instance"
    result = RUNNER.invoke(app, ["report", str(folder), "--instance", str(instance)])
    assert result.exit_code == 0, result.output
    rewritten = pd.read_csv(folder / "customers.csv", keep_default_na=False)
    assert rewritten["why_short"].tolist() == expected.fillna("").tolist()
    assert (folder / "report.html").exists() and (folder / "plan.xlsx").exists()


def test_report_explains_a_result_without_surplus_or_shipments(tmp_path: Path) -> None:
    """Header-only surplus.csv and allocation.csv read back as text columns used to crash
    the why_short recomputation (cumsum on object dtype)."""
    instance = ROOT / "instances" / "tiny" / "delay-empty-window"
    out = tmp_path / "out"
    assert RUNNER.invoke(app, ["solve", str(instance), "--out", str(out), "-q"]).exit_code == 0
    assert len(pd.read_csv(out / "surplus.csv")) == 0
    customers = pd.read_csv(out / "customers.csv")
    expected = customers.pop("why_short")
    customers.to_csv(out / "customers.csv", index=False)
    result = RUNNER.invoke(app, ["report", str(out), "--instance", str(instance)])
    assert result.exit_code == 0, result.output
    rewritten = pd.read_csv(out / "customers.csv", keep_default_na=False)
    assert rewritten["why_short"].tolist() == expected.fillna("").tolist()


def test_report_refuses_another_instance(solved: Path, tmp_path: Path) -> None:
    from allocator.data.generate import generate_instance

    folder = tmp_path / "result"
    folder.mkdir()
    for path in solved.iterdir():
        if path.suffix in (".csv", ".json"):
            (folder / path.name).write_bytes(path.read_bytes())
    customers = pd.read_csv(folder / "customers.csv").drop(columns="why_short")
    customers.to_csv(folder / "customers.csv", index=False)
    other = tmp_path / "other"
    generate_instance(other, regions=3, buyers=6, periods=12, seed=6)
    result = RUNNER.invoke(app, ["report", str(folder), "--instance", str(other)])
    assert result.exit_code == 1
    assert "not the one solved" in result.output


def test_report_command_on_a_folder_without_results(tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert "neither summary.json" in result.output


def test_report_modules_never_import_pyomo() -> None:
    code = (
        "import sys, allocator.outputs.report, allocator.explain.why; "
        "sys.exit(1 if any(name.startswith('pyomo') for name in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


SWEEP_CSV = """scenario,kind,policy_dropped,surplus_scale,status,objective,mip_gap,\
internal_waiting_list_racks,marginal_value_per_wafer,hash
s0,sweep,,0.0,optimal,1000,0,50,,a
s1,sweep,,1.0,optimal,1400,0,30,40,b
s2,sweep,,2.0,optimal,1800,0,10,40,c
s3,sweep,,3.0,optimal,1900,0,5,10,d
s4,sweep,,4.0,optimal,1950,0,2,5,e
"""


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A what-if folder: sweep.csv only (each scenario's results live below it). Offered
    wafers step by 10 per scale unit: the value per wafer drops after scale 2 and 3."""
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "sweep.csv").write_text(SWEEP_CSV, encoding="utf-8")
    write_report(folder)
    return folder


def test_sweep_report_marks_breakpoints(sweep_folder: Path) -> None:
    page = (sweep_folder / "report.html").read_text(encoding="utf-8")
    assert 'id="chart-sweep"' in page
    assert "breakpoint: value per wafer drops" in page
    assert 'id="table-sweep"' in page


@needs_chromium
def test_sweep_page_opens_offline_in_chromium(sweep_folder: Path) -> None:
    seen = visit(sweep_folder / "report.html")
    assert seen.console_errors == []
    assert seen.outside_requests == []
    assert [chart["id"] for chart in seen.charts] == ["chart-sweep"]
    share, colours = ink(seen.chart_shots["chart-sweep"])
    assert share > 0.02 and colours > 8
