"""What-if sweeps and the priority rule: --vary policy.priority_rule and policy.fair_share
(text and true/false values), and --policy-cost pricing the rule of a lexicographic base."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from allocator.whatif.spec import WhatifError, parse_vary
from tests.whatif.helpers import TINY, cli, sweep_of


def test_varying_the_rule_and_fair_share(tmp_path: Path) -> None:
    """priority-fair-share-split: the profit rule ships A 2 + B 2 = 220; lexicographic
    without fair share holds the one tier's 4 racks and then ships the same, 220; with
    fair share both reach 50% (A 1, B 3), 130."""
    out = tmp_path / "sweep"
    result = cli(
        "whatif", TINY / "priority-fair-share-split", "--out", out, "--mip-gap", "0",
        "--vary", "policy.priority_rule=profit,lexicographic",
        "--vary", "policy.fair_share=false,true", "--workers", "1", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = sweep_of(out)
    objective = {
        (row["policy.priority_rule"], bool(row["policy.fair_share"])): row["objective"]
        for _, row in table.iterrows()
    }
    assert objective == {
        ("profit", False): 220.0,
        ("profit", True): 220.0,  # fair share applies under the lexicographic rule only
        ("lexicographic", False): 220.0,
        ("lexicographic", True): 130.0,
    }
    assert "surplus-x1__policy.priority_rule-lexicographic__policy.fair_share-true" in table.index


def test_policy_cost_prices_the_priority_rule(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = cli(
        "whatif", TINY / "priority-tier-before-price", "--out", out, "--mip-gap", "0",
        "--policy-cost", "--workers", "1", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    costs = pd.read_csv(out / "policy_cost.csv").set_index("policy")
    assert costs.loc["priority_rule", "cost"] == pytest.approx(90.0)
    assert costs.loc["priority_rule", "objective_without"] == pytest.approx(100.0)
    assert bool(costs.loc["priority_rule", "exact"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("policy.priority_rule=fairest", "'fairest' is not one of profit, lexicographic"),
        ("policy.fair_share=maybe", "'maybe' is not one of true, false"),
    ],
)
def test_bad_rule_values_are_named(text: str, message: str) -> None:
    with pytest.raises(WhatifError, match=message):
        parse_vary(text)
