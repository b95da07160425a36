"""``allocator scenarios``: a valid scenarios.csv from ranges, levels or draws."""

from __future__ import annotations

from pathlib import Path

import pytest

from allocator.stochastic.scenario_file import read_scenarios
from allocator.whatif.spec import Target
from tests.stochastic.helpers import cli

DEMAND = Target("orders", "racks")
WAFERS = Target("foundry", "surplus_wafers")


def test_levels_make_the_cartesian_product_with_multiplied_probabilities(tmp_path: Path) -> None:
    out = tmp_path / "scenarios.csv"
    result = cli(
        "scenarios", out, "--demand", "0.8:1.2", "--wafers", "0.5:1.5",
        "--probabilities", "0.25,0.5,0.25",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scenarios = read_scenarios(out).scenarios
    assert len(scenarios) == 9
    by_name = {s.name: s for s in scenarios}
    low = by_name["demand-x0.8__wafers-x0.5"]
    assert low.probability == pytest.approx(0.0625)
    assert dict(low.changes) == {DEMAND: 0.8, WAFERS: 0.5}
    assert by_name["demand-x1__wafers-x1"].probability == pytest.approx(0.25)
    assert sum(s.probability for s in scenarios) == pytest.approx(1.0, abs=1e-12)


def test_draws_are_repeatable_and_inside_their_ranges(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    for out in (first, second):
        result = cli(
            "scenarios", out, "--demand", "0.8:1.2",
            "--vary", "policy.third_party_max_share=0.2:0.4", "--count", "25", "--seed", "4",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8")
    scenarios = read_scenarios(first).scenarios
    assert len(scenarios) == 25
    for scenario in scenarios:
        values = dict(scenario.changes)
        assert 0.8 <= values[DEMAND] <= 1.2
        assert 0.2 <= values[Target("policy", "third_party_max_share")] <= 0.4
        assert scenario.probability == pytest.approx(1 / 25)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((), "give at least one range"),
        (("--demand", "1.2:0.8"), "LOW is above HIGH"),
        (("--demand", "a:b"), "write LOW:HIGH"),
        (("--wafers", "-1:1"), "factors must be >= 0"),
        (("--vary", "orders.colour=1:2"), "unknown column"),
        (("--demand", "0.8:1.2", "--probabilities", "0.5,0.5"), "2 values for 3 levels"),
        (("--demand", "0.8:1.2", "--probabilities", "0.5,0.4,0.2"), "not 1"),
    ],
)
def test_bad_ranges_exit_2_and_write_nothing(
    tmp_path: Path, arguments: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "scenarios.csv"
    result = cli("scenarios", out, *arguments)
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()
