"""`allocator nightly` end to end: what a run publishes and records, exit codes, the lock,
a run killed mid-solve, frozen periods, the change penalty, the MIP start, and that an
invalid instance or a plan failing its re-check leaves the published plan untouched.

Store-specific tests run on SQLite and on a throwaway server of
PostgreSQL (see tests/stores.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import allocator.nightly.run
from allocator.cli import app
from allocator.data.generate import generate_instance
from allocator.data.validate import load_instance
from allocator.nightly.config import load_config
from allocator.nightly.lock import RunLock
from allocator.nightly.recovery import abandon_stale_runs
from allocator.nightly.store import PUBLISHED, STORED, RunStore
from allocator.plan.tables import Plan
from allocator.solver.pipeline import SolveResult
from tests.stores import STORE_KINDS, store_url

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "instances" / "tiny"
RUNNER = CliRunner()
PUBLISHED_FILES = {
    ".allocator",  # the marker: allocator wrote this folder and may replace it
    "summary.json",
    "manifest.json",
    "allocation.csv",
    "surplus.csv",
    "customers.csv",
    "stock.csv",
    "marginal_values.csv",
}


def nightly(*args: str | Path) -> Result:
    return RUNNER.invoke(app, ["nightly", *map(str, args)], catch_exceptions=False)


def ok(*args: str | Path) -> dict:
    """Run nightly, expect exit 0; the published manifest."""
    result = nightly(*args)
    assert result.exit_code == 0, result.output
    publish = Path(str(args[list(map(str, args)).index("--publish") + 1]))
    return json.loads((publish / "manifest.json").read_text())


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def ship_cells(folder: Path, last_period: int | None = None) -> dict[tuple[str, int], int]:
    allocation = pd.read_csv(folder / "allocation.csv")
    if last_period is not None:
        allocation = allocation[allocation["ship_period"] <= last_period]
    return {
        (o, int(t)): int(r)
        for o, t, r in zip(
            allocation["order"], allocation["ship_period"], allocation["racks"], strict=True
        )
    }


@pytest.fixture(scope="module")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic instance (a few hundred integer variables, < 1 s to optimality)."""
    folder = tmp_path_factory.mktemp("nightly") / "instance"
    generate_instance(folder, regions=4, buyers=8, periods=12, seed=7)
    return folder


@pytest.fixture(scope="module")
def changed_dir(instance_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same instance the next day: every price moved by up to +-10%."""
    folder = tmp_path_factory.mktemp("nightly") / "changed"
    shutil.copytree(instance_dir, folder)
    orders = pd.read_csv(folder / "orders.csv")
    factor = np.random.default_rng(0).uniform(1 / 1.1, 1.1, len(orders))
    orders["price_per_rack"] = (orders["price_per_rack"] * factor).round(2)
    orders.to_csv(folder / "orders.csv", index=False)
    return folder


@pytest.fixture(params=STORE_KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_url(request.param, tmp_path) as value:
        yield value


@pytest.fixture
def published_once(tmp_path: Path, instance_dir: Path) -> tuple[Path, str, dict]:
    """A SQLite store and a published folder after one optimal run: (publish, store, manifest)."""
    publish, store = tmp_path / "first" / "plan", f"sqlite:///{tmp_path / 'first' / 'runs.db'}"
    manifest = ok(
        "--instance", instance_dir, "--publish", publish, "--store", store, "--mip-gap", 0
    )
    return publish, store, manifest


def copy_state(tmp_path: Path, name: str) -> tuple[Path, str]:
    """A copy of `published_once`'s store and folder, to run variants from the same state."""
    shutil.copytree(tmp_path / "first", tmp_path / name)
    return tmp_path / name / "plan", f"sqlite:///{tmp_path / name / 'runs.db'}"


# --- a run and what it records --------------------------------------------------------------


def test_run_publishes_and_records_everything(url: str, tmp_path: Path, instance_dir: Path) -> None:
    publish = tmp_path / "plan"
    manifest = ok("--instance", instance_dir, "--publish", publish, "--store", url)
    assert {path.name for path in publish.iterdir()} == PUBLISHED_FILES
    instance = load_instance(instance_dir)
    assert manifest["run_id"] == 1
    assert manifest["status"] == PUBLISHED and manifest["exit_code"] == 0
    assert manifest["instance"]["content_hash"] == instance.content_hash
    assert set(manifest["versions"]) == {"allocator", "pyomo", "highs"}
    assert manifest["options"]["seed"] == 20270101
    assert manifest["options"]["store"] == url
    assert manifest["started_at"] <= manifest["finished_at"]
    assert {"load", "solve", "check", "store", "total"} <= set(manifest["timings_seconds"])
    assert manifest["solve"]["status"] in ("optimal", "time_limit")
    assert manifest["racks_moved"] is None  # nothing was published before
    summary = json.loads((publish / "summary.json").read_text())
    assert summary["run_id"] == 1
    assert summary["objective"] == pytest.approx(sum(summary["objective_terms"].values()))
    assert summary["objective"] == pytest.approx(manifest["solve"]["objective"])

    with RunStore(url, create=False) as store:
        row = store.run(1)
        assert row["status"] == PUBLISHED and row["exit_code"] == 0 and row["phase"] is None
        assert row["manifest"]["run_id"] == 1
        assert row["objective"] == pytest.approx(summary["objective"])
        assert "HiGHS" in row["solver_log"]
        stored = store.plan(1).plan.allocation
    written = pd.read_csv(publish / "allocation.csv")
    assert len(stored) == len(written) > 0
    assert stored["racks"].sum() == written["racks"].sum()

    again = ok("--instance", instance_dir, "--publish", publish, "--store", url)
    assert again["run_id"] == 2
    assert again["stability"]["previous_run_id"] == 1
    assert again["racks_moved"]["total"] == 0


def test_mip_start_is_used_and_keeps_the_optimum(
    tmp_path: Path, instance_dir: Path, published_once: tuple[Path, str, dict]
) -> None:
    _, _, cold = published_once
    optimum = cold["solve"]["objective"]
    warm_publish, warm_store = copy_state(tmp_path, "warm")
    plain_publish, plain_store = copy_state(tmp_path, "plain")
    warm = ok(
        "--instance", instance_dir, "--publish", warm_publish, "--store", warm_store,
        "--mip-gap", 0,
    )  # fmt: skip
    plain = ok(
        "--instance", instance_dir, "--publish", plain_publish, "--store", plain_store,
        "--mip-gap", 0, "--no-mip-start",
    )  # fmt: skip
    assert warm["stability"]["mip_start"] == "previous_plan"
    assert warm["solve"]["objective"] == pytest.approx(optimum, rel=1e-9)
    assert plain["solve"]["objective"] == pytest.approx(optimum, rel=1e-9)

    def start_objective(store: str) -> float:
        with RunStore(store, create=False) as opened:
            log = opened.run(2)["solver_log"]
        found = re.search(r"MIP start solution is feasible, objective value is (\S+)", log)
        assert found, log
        return float(found.group(1))

    assert start_objective(warm_store) == pytest.approx(optimum, rel=1e-9)
    assert start_objective(plain_store) != pytest.approx(optimum, rel=1e-6)


def test_change_penalty_moves_fewer_racks(
    tmp_path: Path, changed_dir: Path, published_once: tuple[Path, str, dict]
) -> None:
    free_publish, free_store = copy_state(tmp_path, "free")
    paid_publish, paid_store = copy_state(tmp_path, "paid")
    free = ok("--instance", changed_dir, "--publish", free_publish, "--store", free_store)
    penalty = 200_000.0
    paid = ok(
        "--instance", changed_dir, "--publish", paid_publish, "--store", paid_store,
        "--change-penalty", penalty,
    )  # fmt: skip
    moved_free, moved_paid = free["racks_moved"]["total"], paid["racks_moved"]["total"]
    assert moved_free > 0
    assert moved_paid < moved_free
    stability = paid["stability"]
    assert stability["stability_cost"] == pytest.approx(penalty * moved_paid)
    # the summary keeps SPEC's objective; HiGHS's includes the stability cost
    summary = json.loads((paid_publish / "summary.json").read_text())
    assert summary["objective"] == pytest.approx(sum(summary["objective_terms"].values()))
    assert summary["solver_objective"] == pytest.approx(
        summary["objective"] - stability["stability_cost"], rel=1e-9
    )
    assert summary["stability_cost"] == stability["stability_cost"]


def test_frozen_periods_are_honoured(
    tmp_path: Path, changed_dir: Path, published_once: tuple[Path, str, dict]
) -> None:
    first_publish, _, _ = published_once
    frozen = 3
    before = ship_cells(first_publish, frozen)
    free_publish, free_store = copy_state(tmp_path, "free")
    held_publish, held_store = copy_state(tmp_path, "held")
    ok("--instance", changed_dir, "--publish", free_publish, "--store", free_store)
    held = ok(
        "--instance", changed_dir, "--publish", held_publish, "--store", held_store,
        "--frozen-periods", frozen,
    )  # fmt: skip
    assert ship_cells(free_publish, frozen) != before  # without freezing, they would move
    assert ship_cells(held_publish, frozen) == before
    assert held["stability"]["frozen_mode"] == "fixed"
    assert held["racks_moved"]["frozen_periods"] == 0
    assert held["racks_moved"]["later_periods"] > 0


def test_frozen_periods_keep_only_what_is_still_feasible(
    tmp_path: Path, instance_dir: Path, published_once: tuple[Path, str, dict]
) -> None:
    """Less supply in period 1: the frozen shipments are cut to what the supply allows."""
    first_publish, _, _ = published_once
    short = tmp_path / "short"
    shutil.copytree(instance_dir, short)
    supply = pd.read_csv(short / "supply.csv")
    first = supply["period"] == 1
    supply.loc[first, "base_racks"] = supply.loc[first, "base_racks"] // 2
    supply.to_csv(short / "supply.csv", index=False)
    publish, store = copy_state(tmp_path, "short-run")
    manifest = ok(
        "--instance", short, "--publish", publish, "--store", store, "--frozen-periods", 2
    )
    assert manifest["stability"]["frozen_mode"] == "fixed"
    assert manifest["stability"]["repair_removed_racks"]["stock_balance"] > 0
    before, after = ship_cells(first_publish, 2), ship_cells(publish, 2)
    assert sum(after.values()) < sum(before.values())
    assert all(racks <= before.get(cell, 0) for cell, racks in after.items())


def test_strict_frozen_periods_turn_elastic_when_they_cannot_hold(tmp_path: Path) -> None:
    """Strict mode, and tonight A's committed fill needs the rack B got yesterday."""
    source = TINY / "internal-fill-strict-feasible"
    publish, store = tmp_path / "plan", f"sqlite:///{tmp_path / 'runs.db'}"
    common = ("--publish", publish, "--store", store, "--strict", "--frozen-periods", 1)
    ok("--instance", source, *common)
    assert ship_cells(publish) == {("oa", 1): 2, ("ob", 1): 1}
    changed = tmp_path / "changed"
    shutil.copytree(source, changed)
    customers = (
        (changed / "customers.csv")
        .read_text()
        .replace("A,internal,us-east-1,0.5", "A,internal,us-east-1,0.75")
    )
    (changed / "customers.csv").write_text(customers)
    manifest = ok("--instance", changed, *common)
    assert ship_cells(publish) == {("oa", 1): 3}
    assert manifest["stability"]["frozen_mode"] == "elastic"
    assert manifest["stability"]["mip_start"] == "skipped"
    assert manifest["racks_moved"]["frozen_periods"] == 2


# --- never a lost or bad plan ----------------------------------------------------------------


def test_invalid_instance_leaves_the_plan_untouched(
    url: str, tmp_path: Path, instance_dir: Path
) -> None:
    publish = tmp_path / "plan"
    ok("--instance", instance_dir, "--publish", publish, "--store", url)
    before = folder_bytes(publish)
    broken = tmp_path / "broken"
    shutil.copytree(instance_dir, broken)
    orders = pd.read_csv(broken / "orders.csv")
    orders.loc[0, "racks"] = -5
    orders.to_csv(broken / "orders.csv", index=False)

    result = nightly("--instance", broken, "--publish", publish, "--store", url)
    assert result.exit_code == 2
    assert "orders.csv" in result.stderr
    assert folder_bytes(publish) == before
    with RunStore(url, create=False) as store:
        row = store.run(2)
        assert row["status"] == "invalid" and row["exit_code"] == 2
        problems = store.problems(2)
        assert (problems["file"] == "orders.csv").any() and (problems["column"] == "racks").any()
        assert store.last_published().run_id == 1  # type: ignore[union-attr]


def test_plan_failing_its_recheck_is_not_published(
    tmp_path: Path,
    instance_dir: Path,
    published_once: tuple[Path, str, dict],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publish, store, _ = published_once
    before = folder_bytes(publish)
    solve = allocator.nightly.run.solve_instance

    def overship(*args: object, **kwargs: object) -> SolveResult:
        result = solve(*args, **kwargs)  # type: ignore[arg-type]
        assert result.plan is not None
        allocation = result.plan.allocation.copy()
        allocation.loc[0, "racks"] += 10_000  # more than the order asked for
        return replace(
            result, plan=Plan(allocation, result.plan.surplus, result.plan.deal_accepted)
        )

    monkeypatch.setattr(allocator.nightly.run, "solve_instance", overship)
    result = nightly("--instance", instance_dir, "--publish", publish, "--store", store)
    assert result.exit_code == 4
    assert "re-check" in result.stderr
    assert folder_bytes(publish) == before
    with RunStore(store, create=False) as opened:
        row = opened.run(2)
        assert row["status"] == "rejected"
        messages = " ".join(opened.problems(2)["message"])
        assert "order_quantity" in messages and "objective" in messages
        assert len(opened.plan(2).plan.allocation) > 0  # recorded for inspection
        assert opened.last_published().run_id == 1  # type: ignore[union-attr]


def test_no_incumbent_keeps_the_previous_plan(
    instance_dir: Path, published_once: tuple[Path, str, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    publish, store, _ = published_once
    before = folder_bytes(publish)
    solve = allocator.nightly.run.solve_instance

    def no_plan(*args: object, **kwargs: object) -> SolveResult:
        return replace(solve(*args, **kwargs), plan=None)  # type: ignore[arg-type]

    monkeypatch.setattr(allocator.nightly.run, "solve_instance", no_plan)
    result = nightly("--instance", instance_dir, "--publish", publish, "--store", store)
    assert result.exit_code == 4
    assert folder_bytes(publish) == before
    with RunStore(store, create=False) as opened:
        assert opened.run(2)["status"] == "no_plan"


def test_infeasible_strict_instance_exits_3(tmp_path: Path) -> None:
    publish, store = tmp_path / "plan", f"sqlite:///{tmp_path / 'runs.db'}"
    result = nightly(
        "--instance", TINY / "internal-fill-strict-infeasible", "--publish", publish,
        "--store", store, "--strict",
    )  # fmt: skip
    assert result.exit_code == 3
    assert not publish.exists()
    with RunStore(store, create=False) as opened:
        assert opened.run(1)["status"] == "infeasible"
        assert "internal_fill[A]" in set(opened.problems(1)["message"])


def test_lock_held_exits_75_without_touching_anything(tmp_path: Path, instance_dir: Path) -> None:
    publish, store = tmp_path / "plan", tmp_path / "runs.db"
    with RunLock(tmp_path / "plan.lock"):
        result = nightly(
            "--instance", instance_dir, "--publish", publish, "--store", f"sqlite:///{store}"
        )
    assert result.exit_code == 75
    assert "another nightly run holds the lock" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr
    assert not publish.exists() and not store.exists()


def test_stale_rows_are_abandoned_or_confirmed(tmp_path: Path, instance_dir: Path) -> None:
    """A dead run's row: `running` -> abandoned; `stored` whose folder shows it -> published."""
    config = load_config(None, {"instance": instance_dir, "publish": tmp_path / "plan"})
    other_lock = tmp_path / "other.lock"
    with RunStore(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        host = socket.gethostname()
        common = {
            "host": host,
            "lock_path": str(config.lock_path),
            "publish_path": str(config.publish),
        }
        dead = store.start_run(**common, phase="solving")
        confirmed = store.start_run(**common)
        store.update_run(confirmed, status=STORED)
        config.publish.mkdir()
        (config.publish / "manifest.json").write_text(json.dumps({"run_id": confirmed}))
        alive = store.start_run(**{**common, "lock_path": str(other_lock)})
        elsewhere = store.start_run(**{**common, "host": "another-host"})
        current = store.start_run(**common)
        with RunLock(config.lock_path), RunLock(other_lock):
            marked = abandon_stale_runs(store, config, current)
        assert marked == {confirmed: PUBLISHED, dead: "abandoned"}
        assert store.run(dead)["status"] == "abandoned"
        assert "while solving" in store.run(dead)["message"]
        assert store.run(confirmed)["status"] == PUBLISHED
        assert store.run(alive)["status"] == "running"
        assert store.run(elsewhere)["status"] == "running"
        assert store.run(current)["status"] == "running"


# --- separate processes: killed mid-solve, two at once ---------------------------------------


@pytest.fixture(scope="module")
def slow_instance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance whose proof of optimality takes HiGHS well over ten seconds."""
    folder = tmp_path_factory.mktemp("slow") / "instance"
    generate_instance(folder, regions=20, buyers=60, periods=24, seed=5)
    return folder


def nightly_process(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "allocator", "nightly", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: object, seconds: float) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_run_killed_mid_solve_loses_nothing(url: str, tmp_path: Path, slow_instance: Path) -> None:
    publish = tmp_path / "plan"
    common = ("--instance", slow_instance, "--publish", publish, "--store", url)
    ok(*common, "--time-limit", 0.5)
    before = folder_bytes(publish)
    log = tmp_path / "plan.highs.log"  # HiGHS's log of the run in progress
    log.unlink()

    killed = nightly_process(*common, "--mip-gap", 0, "--time-limit", 300)
    try:
        wait_for(lambda: log.exists() and "Solving MIP model" in log.read_text(), 120)
        assert killed.poll() is None  # still solving
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(timeout=30) == -signal.SIGKILL
    finally:
        killed.kill()
        killed.communicate()

    assert folder_bytes(publish) == before
    listing = RUNNER.invoke(app, ["runs", "list", "--store", url])
    assert listing.exit_code == 0, listing.output
    with RunStore(url, create=False) as store:
        row = store.run(2)
        assert (row["status"], row["phase"]) == ("running", "solving")

    after = ok(*common, "--time-limit", 0.5)
    assert after["run_id"] == 3
    with RunStore(url, create=False) as store:
        assert store.run(2)["status"] == "abandoned"
        assert "found by run 3" in store.run(2)["message"]
        assert store.run(3)["status"] == PUBLISHED
    assert json.loads((publish / "manifest.json").read_text())["run_id"] == 3


def test_two_runs_started_together_only_one_runs(tmp_path: Path, slow_instance: Path) -> None:
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    common = ("--instance", slow_instance, "--publish", tmp_path / "plan", "--store", store)
    runs = [nightly_process(*common, "--mip-gap", 0.01, "--time-limit", 1) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 75], outputs
    loser = outputs[[run.returncode for run in runs].index(75)]
    assert "another nightly run holds the lock" in loser[1]
    with RunStore(store, create=False) as opened:
        assert [row["status"] for row in opened.runs()] == [PUBLISHED]


# --- configuration ------------------------------------------------------------------------------


def test_config_file_keys_and_overrides(tmp_path: Path, instance_dir: Path) -> None:
    config = tmp_path / "conf" / "nightly.toml"
    config.parent.mkdir()
    config.write_text(
        f'instance = "{instance_dir}"\npublish = "out/plan"\nstore = "sqlite:///runs.db"\n'
        "frozen_periods = 5\nchange_penalty = 1000.0\nmip_gap = 0.001\nthreads = 1\n"
    )
    manifest = ok("--config", config, "--frozen-periods", 1, "--publish", tmp_path / "plan")
    options = manifest["options"]
    assert options["frozen_periods"] == 1  # the command line wins
    assert options["change_penalty"] == 1000.0 and options["mip_gap"] == 0.001  # from the file
    assert options["store"] == f"sqlite:///{config.parent / 'runs.db'}"  # beside the file
    assert (config.parent / "runs.db").exists()
    loaded = load_config(config, {})
    assert loaded.publish == config.parent / "out" / "plan"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('publish = "p"\ninstance = "i"\nfrozen_period = 2\n', "unknown key 'frozen_period'"),
        (
            'publish = "p"\ninstance = "i"\nthreads = 0\n',
            "threads must be a whole number in [1, 256]",
        ),
        ('publish = "p"\ninstance = "i"\nstrict = "yes"\n', "strict must be true or false"),
        ('publish = "p"\ninstance = "i"\nstore = "mysql://x/y"\n', "store must be"),
        ('instance = "i"\n', "no publish"),
        ("publish = [", "not valid TOML"),
    ],
)
def test_bad_config_exits_2(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "nightly.toml"
    config.write_text(text)
    result = nightly("--config", config)
    assert result.exit_code == 2
    assert message in result.stderr
