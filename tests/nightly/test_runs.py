"""`allocator runs list | show | diff | export` read what nightly runs stored, on SQLite and
PostgreSQL (a throwaway server, tests/stores.py)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from allocator.cli import app
from allocator.data.generate import generate_instance
from allocator.nightly.runs import diff_runs
from allocator.nightly.store import RunStore
from tests.stores import STORE_KINDS, store_url

RUNNER = CliRunner()


def cli(*args: str | Path) -> Result:
    return RUNNER.invoke(app, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture(scope="module", params=STORE_KINDS)
def history(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A store with three runs: published, published after a supply cut, invalid."""
    folder = tmp_path_factory.mktemp("runs")
    instance = folder / "instance"
    generate_instance(instance, regions=3, buyers=4, periods=8, seed=11)
    cut = folder / "cut"
    shutil.copytree(instance, cut)
    supply = pd.read_csv(cut / "supply.csv")
    supply["base_racks"] = supply["base_racks"] * 3 // 4
    supply.to_csv(cut / "supply.csv", index=False)
    broken = folder / "broken"
    shutil.copytree(instance, broken)
    (broken / "customers.csv").unlink()
    publish = folder / "plan"
    with store_url(request.param, folder) as url:
        for source, code in ((instance, 0), (cut, 0), (broken, 2)):
            result = cli("nightly", "--instance", source, "--publish", publish, "--store", url)
            assert result.exit_code == code, result.output
        yield url, publish


def test_list_shows_every_run(history: tuple[str, Path]) -> None:
    url, _ = history
    result = cli("runs", "list", "--store", url)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert [line.split("│")[2].strip() for line in lines] == ["invalid", "published", "published"]
    assert cli("runs", "list", "--store", url, "--limit", "1").stdout.count("published") == 0


def test_show_gives_record_manifest_and_problems(history: tuple[str, Path]) -> None:
    url, _ = history
    result = cli("runs", "show", "3", "--store", url)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["status"] == "invalid" and record["exit_code"] == 2
    assert record["manifest"]["run_id"] == 3
    assert any(p["file"] == "customers.csv" for p in record["problems"])
    shown = json.loads(cli("runs", "show", "2", "--store", url).stdout)
    assert shown["manifest"]["stability"]["previous_run_id"] == 1
    assert shown["plan_rows"] > 0
    log = cli("runs", "show", "2", "--store", url, "--log")
    assert "HiGHS" in log.stdout


def test_diff_counts_the_racks_moved(history: tuple[str, Path]) -> None:
    url, _ = history
    with RunStore(url, create=False) as store:
        diff = diff_runs(store, 1, 2)
        manifest = store.run(2)["manifest"]
        objectives = store.run(1)["objective"], store.run(2)["objective"]
    assert diff.racks_moved == manifest["racks_moved"]["total"] > 0
    assert diff.objective_change == pytest.approx(objectives[1] - objectives[0])
    table = diff.table
    assert (table["change"] == table["racks_b"] - table["racks_a"]).all()
    assert (table["moved"] >= table["change"].abs()).all()
    assert table["month"].str.match(r"^\d{4}-\d{2}$").all()

    result = cli("runs", "diff", "1", "2", "--store", url)
    assert result.exit_code == 0, result.output
    assert f"racks moved: {diff.racks_moved:,.0f}" in result.stdout
    assert "objective change: -" in result.stdout  # less supply, less value
    csv = cli("runs", "diff", "1", "2", "--store", url, "--csv").stdout
    assert csv.splitlines()[0] == "customer,ship_period,month,racks_a,racks_b,change,moved"
    assert len(csv.splitlines()) == len(table) + 1


def test_export_writes_the_stored_plan(history: tuple[str, Path], tmp_path: Path) -> None:
    url, publish = history
    out = tmp_path / "run-2"
    result = cli("runs", "export", "2", "--out", out, "--store", url)
    assert result.exit_code == 0, result.output
    assert {path.name for path in out.iterdir()} == {
        ".allocator", "allocation.csv", "surplus.csv", "deals.csv", "manifest.json",
        "summary.json", "highs.log",
    }  # fmt: skip
    exported = pd.read_csv(out / "allocation.csv")
    published = pd.read_csv(publish / "allocation.csv")
    pd.testing.assert_frame_equal(exported, published)
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads((publish / "summary.json").read_text())
    invalid = tmp_path / "run-3"
    assert cli("runs", "export", "3", "--out", invalid, "--store", url).exit_code == 0
    assert "customers.csv" in (invalid / "problems.csv").read_text()


def test_unknown_run_or_store_exits_2(history: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = history
    missing = cli("runs", "show", "99", "--store", url)
    assert missing.exit_code == 2 and "no run 99" in missing.stderr
    nowhere = cli("runs", "list", "--store", f"sqlite:///{tmp_path / 'none.db'}")
    assert nowhere.exit_code == 2 and "does not exist" in nowhere.stderr
