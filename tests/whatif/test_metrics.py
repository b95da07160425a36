"""The rows of a sweep against separate `allocator solve` runs of the same modified
instances: objectives, the value of a surplus wafer and where it drops, policy costs."""

from __future__ import annotations

import itertools
import json
import math
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from allocator.data.validate import load_instance
from allocator.whatif.run import run_whatif
from allocator.whatif.spec import SweepSpec, parse_surplus_scales
from tests.whatif.helpers import EXACT, cli, generated, summary_of, sweep_of


@pytest.mark.parametrize("seed", [1, 3])
def test_objective_never_falls_as_surplus_grows(tmp_path: Path, seed: int) -> None:
    base = load_instance(generated(tmp_path / "instance", seed))
    spec = SweepSpec(parse_surplus_scales("0,0.5,1,1.5,2"))
    report = run_whatif(base, "instance", tmp_path / "out", spec, EXACT)
    table = sweep_of(tmp_path / "out").sort_values("surplus_scale")
    assert (table["status"] == "optimal").all()
    objective = table["objective"].to_numpy()
    assert all(later >= earlier - 1e-9 * abs(earlier) for earlier, later in pairs(objective))
    offered = table["surplus_wafers_offered"].to_numpy()
    per_wafer = table["marginal_value_per_wafer"].to_numpy()
    assert math.isnan(per_wafer[0])
    for index in range(1, len(table)):
        expected = (objective[index] - objective[index - 1]) / (offered[index] - offered[index - 1])
        assert per_wafer[index] == pytest.approx(expected, rel=1e-9)
        assert per_wafer[index] >= -1e-6
    assert (table["surplus_wafers_used"] <= offered + 1e-6).all()
    assert [path.name for path in report.charts] == ["surplus.png"]
    assert (tmp_path / "out" / "charts" / "surplus.png").read_bytes()[:4] == b"\x89PNG"


def pairs(values: Any) -> list[tuple[float, float]]:
    return list(itertools.pairwise(values))


def modified_copy(
    source: Path,
    folder: Path,
    *,
    surplus_scale: float = 1.0,
    policy: dict[str, float] | None = None,
    factors: dict[str, float] | None = None,
) -> Path:
    """The instance files changed by hand with pandas, independently of allocator.whatif."""
    shutil.copytree(source, folder)
    foundry = pd.read_csv(folder / "foundry.csv")
    foundry["surplus_wafers"] = foundry["surplus_wafers"].astype(float) * surplus_scale
    foundry.to_csv(folder / "foundry.csv", index=False)
    for name, factor in (factors or {}).items():
        table, column = name.split(".")
        frame = pd.read_csv(folder / f"{table}.csv")
        frame[column] = frame[column] * factor
        frame.to_csv(folder / f"{table}.csv", index=False)
    settings = tomllib.loads((folder / "instance.toml").read_text(encoding="utf-8"))
    settings["policy"].update(policy or {})
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items() if key != "policy"]
    lines += ["[policy]"] + [f"{key} = {value!r}" for key, value in settings["policy"].items()]
    (folder / "instance.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def solve_separately(instance: Path, out: Path) -> dict[str, Any]:
    result = cli("solve", instance, "--out", out, "--mip-gap", "0", "-q")
    assert result.exit_code == 0, result.output
    return summary_of(out)


def test_each_row_equals_a_separate_solve(tmp_path: Path, small: Path) -> None:
    out = tmp_path / "sweep"
    result = cli(
        "whatif", small, "--out", out, "--surplus-scale", "0.5,2", "--mip-gap", "0",
        "--vary", "policy.third_party_max_share=0.2,0.5",
        "--vary", "orders.price_per_rack=1.1",
        "--workers", "1", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = sweep_of(out)
    assert len(table) == 4
    for name, row in table.iterrows():
        alone = modified_copy(
            small,
            tmp_path / f"instance-{name}",
            surplus_scale=row["surplus_scale"],
            policy={"third_party_max_share": row["policy.third_party_max_share"]},
            factors={"orders.price_per_rack": 1.1},
        )
        separate = solve_separately(alone, tmp_path / f"solve-{name}")
        assert row["status"] == separate["status"] == "optimal"
        assert row["objective"] == pytest.approx(separate["objective"], rel=1e-12)
        terms = separate["objective_terms"]
        assert row["rack_revenue_third_party"] == pytest.approx(terms["rack_revenue_third_party"])
        fill = separate["fill"]
        assert row["internal_waiting_list_racks"] == fill["internal"]["waiting_list_racks"]
        assert row["third_party_racks"] == fill["third_party"]["allocated_racks"]
        assert row["deals_accepted"] == separate["deals_accepted"]
        for file in ("allocation.csv", "surplus.csv", "customers.csv"):
            swept = pd.read_csv(out / "scenarios" / str(name) / file)
            pd.testing.assert_frame_equal(swept, pd.read_csv(tmp_path / f"solve-{name}" / file))
    # the cap binds in this instance: a looser cap is worth something
    loose = table[table["policy.third_party_max_share"] == 0.5]["objective"].to_numpy()
    tight = table[table["policy.third_party_max_share"] == 0.2]["objective"].to_numpy()
    assert (loose > tight).all()


def test_policy_costs_equal_separate_solves(tmp_path: Path, small: Path) -> None:
    out = tmp_path / "sweep"
    result = cli("whatif", small, "--out", out, "--policy-cost", "--mip-gap", "0", "-q")
    assert result.exit_code == 0, result.output
    costs = pd.read_csv(out / "policy_cost.csv").set_index("policy")
    base_summary = solve_separately(small, tmp_path / "base")
    base = base_summary["objective"]
    penalty = base_summary["objective_terms"]["shortfall_penalty"]
    assert costs.loc["internal_min_fill", "of_which_shortfall_penalty"] == pytest.approx(-penalty)
    variants = {
        "third_party_share_cap": {"policy": {"third_party_max_share": 1.0}},
        "internal_min_fill": {"factors": {"customers.min_fill": 0.0}},
        "min_contract_racks": {"factors": {"customers.min_contract_racks": 0}},
    }
    for policy, change in variants.items():
        alone = modified_copy(small, tmp_path / f"instance-{policy}", **change)  # type: ignore[arg-type]
        without = solve_separately(alone, tmp_path / f"solve-{policy}")["objective"]
        assert costs.loc[policy, "cost"] >= 0
        assert costs.loc[policy, "cost"] == pytest.approx(without - base, rel=1e-9, abs=1e-3)
        assert costs.loc[policy, "cost_low"] == pytest.approx(costs.loc[policy, "cost"])
        assert costs.loc[policy, "cost_high"] == pytest.approx(costs.loc[policy, "cost"])
        assert costs.loc[policy, "exact"]
        assert costs.loc[policy, "cost"] > 0  # every policy binds in this instance
    # the default sweep point (surplus x1) is the base: one solve serves both names
    table = sweep_of(out)
    assert table.loc["surplus-x1", "objective"] == table.loc["base", "objective"]
    assert (out / "charts" / "policy_cost.png").is_file()
    # the same folder without --policy-cost: nothing to solve, no stale policy files
    again = cli("whatif", small, "--out", out, "--mip-gap", "0", "-q")
    assert again.exit_code == 0, again.output
    assert "1 already done" in again.output
    assert not (out / "policy_cost.csv").exists()
    assert not (out / "charts" / "policy_cost.png").exists()
