"""The scenarios of a sweep: deterministic, readable names; scaled columns that stay whole
and in range."""

from __future__ import annotations

from pathlib import Path

from allocator.data.validate import load_instance
from allocator.whatif.scenarios import make_scenarios, scaled_column
from allocator.whatif.spec import SweepSpec, Target, parse_surplus_scales, parse_vary


def test_scenario_names_are_deterministic_and_readable() -> None:
    spec = SweepSpec(
        parse_surplus_scales("1.5,0,1.5"),
        (parse_vary("policy.third_party_max_share=0.2,0.35"), parse_vary("orders.racks=1.1")),
        policy_cost=True,
    )
    names = [scenario.name for scenario in make_scenarios(spec)]
    assert names == [
        "surplus-x0__policy.third_party_max_share-0.2__orders.racks-x1.1",
        "surplus-x1.5__policy.third_party_max_share-0.2__orders.racks-x1.1",
        "surplus-x0__policy.third_party_max_share-0.35__orders.racks-x1.1",
        "surplus-x1.5__policy.third_party_max_share-0.35__orders.racks-x1.1",
        "base",
        "no-third-party-share-cap",
        "no-internal-min-fill",
        "no-min-contract-racks",
    ]
    assert names == [scenario.name for scenario in make_scenarios(spec)]


def test_scaled_counts_stay_whole_and_in_range(small: Path) -> None:
    instance = load_instance(small)
    racks = scaled_column(instance.orders, Target("orders", "racks"), 0.01)["racks"]
    assert racks.dtype == "int64"
    assert (racks >= 1).all()
    fill = scaled_column(instance.customers, Target("customers", "min_fill"), 5.0)["min_fill"]
    assert fill.max() <= 1.0
    assert (fill[instance.customers["segment"] == "internal"] == 1.0).all()
