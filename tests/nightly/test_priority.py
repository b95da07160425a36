"""Nightly runs under the lexicographic rule: the published plan comes from the stages
(summary.json says which, each held), also with frozen periods and the change penalty."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from allocator.cli import app
from allocator.data.generate import generate_instance


def run(*args: str | Path) -> dict:
    result = CliRunner().invoke(app, ["nightly", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    publish = Path(str(args[list(map(str, args)).index("--publish") + 1]))
    return json.loads((publish / "summary.json").read_text())


def test_nightly_publishes_a_tiered_plan(tmp_path: Path) -> None:
    folder = tmp_path / "instance"
    generate_instance(folder, regions=3, buyers=5, periods=8, seed=5)
    customers = pd.read_csv(folder / "customers.csv", keep_default_na=False)
    customers["priority"] = [
        1 if segment == "third_party" else 2 for segment in customers["segment"]
    ]
    customers.to_csv(folder / "customers.csv", index=False)
    toml = (folder / "instance.toml").read_text(encoding="utf-8")
    (folder / "instance.toml").write_text(
        toml + 'priority_rule = "lexicographic"\n', encoding="utf-8"
    )
    publish = tmp_path / "plan"
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    base = ["--instance", folder, "--publish", publish, "--store", store]
    first = run(*base)
    stages = [(stage["tier"], stage["criterion"]) for stage in first["priority_stages"]]
    assert stages == [(1, "racks"), (2, "racks"), (None, "profit")]
    assert first["plan_violations"] == []
    tier_1 = first["priority_stages"][0]["value"]
    allocation = pd.read_csv(publish / "allocation.csv")
    buyers = set(customers.loc[customers["priority"] == 1, "customer"])
    assert allocation[allocation["customer"].isin(buyers)]["racks"].sum() >= tier_1 - 1e-9

    second = run(*base, "--frozen-periods", "2", "--change-penalty", "1000")
    assert second["plan_violations"] == []
    assert second["priority_stages"][0]["value"] >= tier_1 - 1e-9  # the tier still first
