"""Capable to promise under the lexicographic rule: the tiers' stages decide, not profit.

``priority-tier-before-price``: one rack; region R (tier 1) values it at 10, buyer B
(tier 2) pays 100. Tier 1 is served first, so R has the rack.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import allocator
from allocator.promising.capable import _better, priority_key
from tests.promising.helpers import snapshot

TIERED = Path(__file__).resolve().parents[2] / "instances" / "tiny" / "priority-tier-before-price"


def _plan(tmp_path: Path, rule: str = "lexicographic") -> Path:
    """The tiny instance under ``rule``, copied into ``tmp_path`` and solved exactly."""
    folder = tmp_path / f"instance-{rule}"
    shutil.copytree(TIERED, folder)
    toml = folder / "instance.toml"
    toml.write_text(
        toml.read_text().replace('priority_rule = "lexicographic"', f'priority_rule = "{rule}"')
    )
    result = allocator.solve(allocator.load_instance(folder), mip_gap=0.0)
    return result.write(tmp_path / f"plan-{rule}")


def test_a_higher_tier_holds_the_rack_whatever_the_price(tmp_path: Path) -> None:
    """B (tier 2) asks for one more rack at 1,000: the re-solved plan still gives the only
    rack to R (tier 1), and the answer names tier 1 as what holds it back."""
    plan = _plan(tmp_path)
    before = snapshot(plan)
    answer = allocator.promise(plan, customer="B", product="P", racks=1, period=1, price=1000)
    assert snapshot(plan) == before
    assert answer.capable is not None
    assert answer.capable_racks == 0
    assert answer.capable.tier == 2
    assert answer.capable.held_by_tiers == ((1, 1),)
    assert answer.orders_losing == []
    capable = json.loads(json.dumps(answer.to_json()))["capable"]
    assert capable["tier"] == 2
    assert capable["held_by_tiers"] == [{"tier": 1, "racks": 1}]


def test_under_the_profit_rule_the_same_promise_displaces_the_region(tmp_path: Path) -> None:
    """The same instance under the profit rule: B's order at 100 already has the rack;
    a second B order at 1,000 takes it from b1, and nothing names a tier."""
    plan = _plan(tmp_path, "profit")
    answer = allocator.promise(plan, customer="B", product="P", racks=1, period=1, price=1000)
    assert answer.capable is not None
    assert answer.capable_racks == 1
    assert answer.capable.tier is None and answer.capable.held_by_tiers == ()
    assert answer.orders_losing == [{"order": "b1", "racks_before": 1, "racks_after": 0}]


def test_a_tier_one_promise_names_no_tier(tmp_path: Path) -> None:
    """R (tier 1) asks for a second rack worth 5: no tier comes before it; its own order
    at 10 keeps the rack."""
    plan = _plan(tmp_path)
    answer = allocator.promise(plan, customer="R", product="P", racks=1, period=1, price=5)
    assert answer.capable is not None
    assert answer.capable_racks == 0
    assert answer.capable.tier == 1 and answer.capable.held_by_tiers == ()


def test_plans_compare_by_their_stages_before_profit(tmp_path: Path) -> None:
    """R's plan (10) is better than B's (100) under the lexicographic rule: the stage
    values (R_1, R_2) come before the objective."""
    tiered = allocator.load_instance(TIERED)
    by_tiers = allocator.solve(tiered, mip_gap=0.0)
    by_profit = allocator.solve(
        tiered.with_policy(dataclasses.replace(tiered.policy, priority_rule="profit")),
        mip_gap=0.0,
    )
    assert by_tiers.solved is not None and by_profit.solved is not None
    tiers_plan, profit_plan = by_tiers.solved.plan, by_profit.solved.plan
    assert tiers_plan is not None and profit_plan is not None
    tiers_key = priority_key(tiered, tiers_plan, 10.0)
    profit_key = priority_key(tiered, profit_plan, 100.0)
    assert tiers_key == (1.0, 0.0, 10.0) and profit_key == (0.0, 1.0, 100.0)
    assert _better(tiers_key, profit_key) and not _better(profit_key, tiers_key)
    assert not _better(tiers_key, tiers_key)


def test_the_command_says_which_tier_holds_it_back(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from allocator.cli import app

    plan = _plan(tmp_path)
    result = CliRunner().invoke(
        app,
        ["promise", str(plan), "--customer", "B", "--product", "P", "--racks", "1",
         "--period", "1", "--price", "1000"],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "held back by" in result.output
    assert "tier 1 got 1 racks of P in its window (served first: it is tier 2)" in result.output
