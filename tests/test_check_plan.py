"""`check_plan` catches a plan that breaks a constraint: each family on a tiny instance,
with a hand-made plan just inside the limit (no violation) and one rack over it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from allocator.instance import Instance
from allocator.plan import Plan, check_plan, make_plan
from allocator.validate import load_instance

TINY = Path(__file__).resolve().parent.parent / "instances" / "tiny"


def _plan(
    instance: Instance,
    ships: list[tuple[str, int, int]],
    surplus: list[tuple[str, int, int]] = (),  # type: ignore[assignment]
    accepted: dict[str, float] | None = None,
) -> Plan:
    ship = pd.DataFrame(ships, columns=["order", "ship_period", "racks"]).astype(
        {"ship_period": "int64", "racks": "int64"}
    )
    made = pd.DataFrame(list(surplus), columns=["product", "period", "racks"]).astype(
        {"period": "int64", "racks": "int64"}
    )
    return make_plan(instance, ship, made, pd.Series(accepted or {}, dtype=float))


def _families(violations: list[str]) -> set[str]:
    return {violation.split(":")[0] for violation in violations}


def test_region_power_is_cumulative() -> None:
    """us-east-1: 20 kW by period 1 and 30 kW by period 2, 10 kW racks."""
    instance = load_instance(TINY / "region-power-cumulative")
    assert check_plan(instance, _plan(instance, [("o1", 1, 2), ("o2", 2, 1)])) == []
    over_in_2 = check_plan(instance, _plan(instance, [("o1", 1, 2), ("o2", 2, 2)]))
    assert over_in_2 == ["region_power: us-east-1,2 uses 40 of 30 kW"]
    over_in_1 = check_plan(instance, _plan(instance, [("o1", 1, 3)]))
    assert over_in_1 == ["region_power: us-east-1,1 uses 30 of 20 kW"]


def test_region_power_ignores_other_regions() -> None:
    instance = load_instance(TINY / "region-power-cumulative")
    assert check_plan(instance, _plan(instance, [("o1", 1, 2), ("o2", 2, 1), ("ob", 2, 3)])) == []


def test_third_party_deal_min_and_max() -> None:
    """T must take at least 3 racks once accepted, and none while not accepted (only 2
    racks exist, so the deal cannot be kept)."""
    instance = load_instance(TINY / "third-party-deal-min-contract")
    assert check_plan(instance, _plan(instance, [("ob", 1, 2)], accepted={"T": 0.0})) == []
    below = check_plan(instance, _plan(instance, [("ot", 1, 2)], accepted={"T": 1.0}))
    assert _families(below) == {"third_party_deal"}
    not_accepted = check_plan(instance, _plan(instance, [("ot", 1, 1)], accepted={"T": 0.0}))
    assert _families(not_accepted) == {"third_party_deal"}


@pytest.mark.parametrize("third_party_racks, broken", [(2, set()), (3, {"third_party_share"})])
def test_third_party_share(third_party_racks: int, broken: set[str]) -> None:
    instance = load_instance(TINY / "third-party-share-binding")
    share = instance.policy.third_party_max_share
    internal = 2
    assert (third_party_racks <= share * (third_party_racks + internal)) == (not broken)
    plan = _plan(instance, [("ot", 1, third_party_racks), ("ob", 1, internal)], accepted={"T": 1})
    assert _families(check_plan(instance, plan)) == broken


def test_order_quantity_and_window() -> None:
    instance = load_instance(TINY / "region-power-cumulative")
    assert _families(check_plan(instance, _plan(instance, [("ob", 2, 4)]))) == {"order_quantity"}
    assert _families(check_plan(instance, _plan(instance, [("o1", 2, 1)]))) == {
        "ships outside its window W(o)"
    }
