"""Two-stage plans whose answer is obvious by hand, through ``allocator stochastic``.

Surplus (helpers.surplus_instance): a surplus rack costs 50 and earns 100 only in a
scenario that orders it. Low demand orders 2 racks (x0.2), high demand 10. With the high
scenario at 0.6 each rack past 2 is worth -50 + 0.6 * 100 = +10: buy 10, RP = -500 +
0.4 * 200 + 0.6 * 1000 = 180; at 0.4 it is worth -10: buy 2, RP = -100 + 200 = 100.
Deals (helpers.deal_instance): T's 5-rack minimum cannot be met where demand collapses
to 4 racks (x0.4) or supply to 3 (x0.3), so a deal accepted before the scenario is known
is rejected, and the mean scenario's acceptance does not fit that scenario.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.stochastic.helpers import (
    cli,
    deal_instance,
    record_of,
    results_of,
    summary_of,
    surplus_instance,
    write_scenarios,
)

EXACT = ("--mip-gap", "0", "--workers", "1", "--quiet")


def _run(instance: Path, scenarios: Path, out: Path, *extra: str) -> dict:
    result = cli("stochastic", instance, "--scenarios", scenarios, "--out", out, *EXACT, *extra)
    assert result.exit_code == 0, result.output
    return record_of(out)


@pytest.mark.parametrize(
    ("high", "racks", "rp", "ws", "eev"),
    [
        # mean demand 0.4*2 + 0.6*10 = 6.8 -> 7 racks: EEV = -350 + 0.4*200 + 0.6*700
        (0.6, 10, 180.0, 0.4 * 100 + 0.6 * 500, 150.0),
        # mean 0.6*2 + 0.4*10 = 5.2 -> 5 racks: EEV = -250 + 0.6*200 + 0.4*500
        (0.4, 2, 100.0, 0.6 * 100 + 0.4 * 500, 70.0),
    ],
)
def test_surplus_is_bought_only_if_high_demand_pays_for_it(
    tmp_path: Path, high: float, racks: int, rp: float, ws: float, eev: float
) -> None:
    instance = surplus_instance(tmp_path / "surplus")
    scenarios = write_scenarios(
        tmp_path / "scenarios.csv",
        [f"low,{1 - high!r},orders.racks,0.2", f"high,{high!r},,"],
    )
    out = tmp_path / "out"
    record = _run(instance, scenarios, out)
    first = pd.read_csv(out / "first_stage.csv")
    assert first.to_dict("records") == [{"product": "P", "period": 1, "racks": racks}]
    assert record["rp"] == pytest.approx(rp, abs=1e-6)
    assert record["ws"] == pytest.approx(ws, abs=1e-6)
    assert record["eev"] == pytest.approx(eev, abs=1e-6)
    assert record["vss"] == pytest.approx(rp - eev, abs=1e-6)
    assert record["evpi"] == pytest.approx(ws - rp, abs=1e-6)
    assert record["eev_infeasible"] == []
    # each scenario's plan under the first stage: ships what it ordered, up to the surplus
    low = pd.read_csv(out / "scenarios" / "low" / "allocation.csv")
    assert int(low["racks"].sum()) == 2
    high_plan = pd.read_csv(out / "scenarios" / "high" / "surplus.csv")
    assert int(high_plan["racks"].sum()) == racks
    assert summary_of(out / "scenarios" / "high")["status"] == "optimal"
    assert not (out / "deals.csv").exists()


def test_a_deal_one_scenario_cannot_meet_is_not_accepted_first(tmp_path: Path) -> None:
    instance = deal_instance(tmp_path / "deal")
    scenarios = write_scenarios(
        tmp_path / "scenarios.csv", ["normal,0.5,,", "collapse,0.5,orders.racks,0.4"]
    )
    out = tmp_path / "out"
    record = _run(instance, scenarios, out, "--first-stage", "surplus,deals")
    deals = pd.read_csv(out / "deals.csv")
    assert deals.to_dict("records") == [{"customer": "T", "accepted": 0}]
    # B takes every rack: 0.5 * 1000 + 0.5 * 400; alone, normal accepts T: 2000 - 100
    assert record["rp"] == pytest.approx(700.0)
    assert record["ws"] == pytest.approx(0.5 * 1900 + 0.5 * 400)
    # the mean scenario (x0.7: T orders 7 >= 5) accepts T; collapse orders 4 < 5
    assert record["eev_infeasible"] == ["collapse"]
    assert record["eev"] is None and record["vss"] is None
    assert "minimum contract 5" in record["eev_infeasible_reasons"]["collapse"][0]
    assert record["evpi"] == pytest.approx(1150.0 - 700.0)


def test_a_deal_one_scenario_cannot_supply_makes_the_eev_infeasible(tmp_path: Path) -> None:
    instance = deal_instance(tmp_path / "deal")
    scenarios = write_scenarios(
        tmp_path / "scenarios.csv", ["normal,0.5,,", "shortage,0.5,supply.base_racks,0.3"]
    )
    out = tmp_path / "out"
    record = _run(instance, scenarios, out, "--first-stage", "surplus,deals")
    # T rejected before the scenario is known; shortage has 3 racks for B
    assert record["rp"] == pytest.approx(0.5 * 1000 + 0.5 * 300)
    # the mean scenario (base 6.5 -> 7 racks) accepts T: 7 racks cannot meet... in
    # shortage 3 racks cannot meet T's minimum of 5 (found by the solve, not the check)
    assert record["eev_infeasible"] == ["shortage"]
    fixed = results_of(out).query("solve == 'mean_first_stage' and scenario == 'shortage'")
    assert fixed["status"].tolist() == ["infeasible"]


def test_deals_per_scenario_leave_nothing_to_hedge(tmp_path: Path) -> None:
    instance = deal_instance(tmp_path / "deal")
    scenarios = write_scenarios(
        tmp_path / "scenarios.csv", ["normal,0.5,,", "collapse,0.5,orders.racks,0.4"]
    )
    record = _run(instance, scenarios, tmp_path / "out")
    assert record["rp"] == pytest.approx(1150.0)
    assert record["ws"] == pytest.approx(1150.0)
    assert record["eev"] == pytest.approx(1150.0)
    assert record["vss"] == pytest.approx(0.0) and record["evpi"] == pytest.approx(0.0)
    assert record["first_stage"] == "surplus"
