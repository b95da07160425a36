"""Which folders hold a plan to promise against, and the plan's re-check against the instance.

A solve output, a nightly published folder and a ``runs export`` folder are plans; a
folder without one, an infeasible solve, an LP relaxation and a what-if sweep are not;
a plan that no longer meets the instance (it changed since) is refused; one that still
meets a changed instance is answered with a note. Nothing in the folder ever changes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import allocator
from allocator.cli import app
from allocator.errors import PromiseInputError
from tests.promising.helpers import (
    customer,
    order,
    product,
    snapshot,
    solved,
    supply,
    tiny_instance,
)

ROOT = Path(__file__).resolve().parents[2]
RUNNER = CliRunner()


@pytest.fixture(scope="module")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 racks in period 1, int1 takes 3; tp2 orders 1 at 300."""
    return tiny_instance(
        tmp_path_factory.mktemp("folder") / "instance",
        periods=2,
        products=[product()],
        supply_rows=[supply(1, 5)],
        customers=[customer("int1"), customer("tp2")],
        orders=[order("o1", "int1", 1, 3, 100), order("o2", "tp2", 1, 1, 300)],
    )


def promise(plan_dir: Path, **changes: object) -> allocator.PromiseAnswer:
    request = {"customer": "int1", "product": "p1", "racks": 5, "period": 1, **changes}
    before = snapshot(plan_dir)
    try:
        return allocator.promise(plan_dir, capable=False, **request)  # type: ignore[arg-type]
    finally:
        assert snapshot(plan_dir) == before


def test_solve_output(instance_dir: Path, tmp_path: Path) -> None:
    answer = promise(solved(instance_dir, tmp_path / "plan"))
    assert answer.available_racks == 1  # 5 made, 4 shipped
    assert answer.instance_source == str(instance_dir)
    assert answer.notes == ()


def test_nightly_published_folder_and_runs_export(instance_dir: Path, tmp_path: Path) -> None:
    publish, store = tmp_path / "published", f"sqlite:///{tmp_path / 'runs.db'}"
    ran = RUNNER.invoke(
        app,
        ["nightly", "--instance", str(instance_dir), "--publish", str(publish), "--store", store],
    )
    assert ran.exit_code == 0, ran.output
    assert (publish / "manifest.json").is_file()
    assert promise(publish).available_racks == 1
    exported = tmp_path / "exported"
    ran = RUNNER.invoke(app, ["runs", "export", "1", "--out", str(exported), "--store", store])
    assert ran.exit_code == 0, ran.output
    assert not (exported / "customers.csv").exists()  # deals come from deals.csv
    assert promise(exported, customer="tp2").available_racks == 1


def test_instance_from_the_manifest_when_the_summary_has_none(
    instance_dir: Path, tmp_path: Path
) -> None:
    plan = solved(instance_dir, tmp_path / "plan")
    summary = json.loads((plan / "summary.json").read_text())
    del summary["instance"]["source"]
    (plan / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(PromiseInputError, match="does not record which instance"):
        promise(plan)
    (plan / "manifest.json").write_text(json.dumps({"instance": {"source": str(instance_dir)}}))
    assert promise(plan).available_racks == 1


def test_recorded_instance_missing_asks_for_it(instance_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "instance"
    shutil.copytree(instance_dir, copy)
    plan = solved(copy, tmp_path / "plan")
    shutil.rmtree(copy)
    with pytest.raises(PromiseInputError, match="is not found from here: give it with --instance"):
        promise(plan)
    assert promise(plan, instance=instance_dir).available_racks == 1


def test_plan_that_fails_its_recheck_is_refused(instance_dir: Path, tmp_path: Path) -> None:
    plan = solved(instance_dir, tmp_path / "plan")
    changed = tmp_path / "changed"
    shutil.copytree(instance_dir, changed)
    (changed / "supply.csv").write_text(
        "product,period,base_racks,surplus_max_racks,surplus_cost\np1,1,3,0,0\n"
    )
    with pytest.raises(PromiseInputError, match="fails its re-check") as raised:
        promise(plan, instance=changed)
    assert "stock_balance: negative stock: p1,1" in str(raised.value)
    orders = pd.read_csv(instance_dir / "orders.csv")
    orders.loc[orders["order"] == "o1", "customer"] = "tp2"
    shutil.copytree(instance_dir, tmp_path / "moved")
    orders.to_csv(tmp_path / "moved" / "orders.csv", index=False)
    with pytest.raises(PromiseInputError, match="order o1: the plan has customer int1, the"):
        promise(plan, instance=tmp_path / "moved")


def test_changed_instance_the_plan_still_meets_is_noted(instance_dir: Path, tmp_path: Path) -> None:
    plan = solved(instance_dir, tmp_path / "plan")
    changed = tmp_path / "changed"
    shutil.copytree(instance_dir, changed)
    (changed / "supply.csv").write_text(
        "product,period,base_racks,surplus_max_racks,surplus_cost\np1,1,7,0,0\n"
    )
    answer = promise(plan, instance=changed)
    assert answer.available_racks == 3
    assert any("not the one the plan was solved from" in note for note in answer.notes)


@pytest.mark.parametrize("kind", ["empty", "infeasible", "relaxed", "sweep", "file"])
def test_folders_without_a_plan(kind: str, tmp_path: Path, instance_dir: Path) -> None:
    folder = tmp_path / "folder"
    if kind == "empty":
        folder.mkdir()
        expected = "holds no plan"
    elif kind == "infeasible":
        strict = ROOT / "instances" / "tiny" / "internal-fill-strict-infeasible"
        allocator.solve(allocator.load_instance(strict), strict=True).write(folder)
        expected = "holds no plan: its solve was infeasible"
    elif kind == "relaxed":
        allocator.solve(allocator.load_instance(instance_dir), relax=True).write(folder)
        expected = "holds the LP relaxation"
    elif kind == "sweep":
        folder.mkdir()
        (folder / "sweep.csv").write_text("scenario,kind,surplus_scale,status,objective\n")
        expected = "is a what-if sweep"
    else:
        folder.write_text("not a folder")
        expected = "is not a folder"
    before = folder.read_bytes() if folder.is_file() else snapshot(folder)
    with pytest.raises(PromiseInputError, match=expected):
        allocator.promise(folder, customer="int1", product="p1", racks=1, period=1)
    assert (folder.read_bytes() if folder.is_file() else snapshot(folder)) == before


def test_a_result_in_memory_is_a_plan(instance_dir: Path, tmp_path: Path) -> None:
    result = allocator.solve(allocator.load_instance(instance_dir), mip_gap=0.0)
    request = {"customer": "int1", "product": "p1", "racks": 5, "period": 1, "price": 50.0}
    in_memory = allocator.promise(result, **request)  # type: ignore[arg-type]
    from_folder = allocator.promise(result.write(tmp_path / "plan"), **request)  # type: ignore[arg-type]
    a, b = in_memory.to_json(), from_folder.to_json()
    for data in (a, b):
        data.pop("plan")
        data["available"].pop("seconds")
        data["capable"].pop("seconds")
    assert a == b
    assert in_memory.capable_racks == 1  # worth 50: only the rack o1 and o2 leave
    relaxed = allocator.solve(allocator.load_instance(instance_dir), relax=True)
    with pytest.raises(PromiseInputError, match="LP relaxation"):
        allocator.promise(relaxed, customer="int1", product="p1", racks=5, period=1)
