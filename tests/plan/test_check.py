"""`check_plan` catches a plan that breaks a constraint: each family on a tiny instance,
with a hand-made plan just inside the limit (no violation) and one rack over it.

The instances are the hand-checked ones under instances/tiny/ (their expected.toml
``reason`` explains the numbers used below). `allocator solve` refuses a plan that fails
this check: tested at the end with the real check on a really corrupted plan."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import allocator.solver.pipeline
from allocator.cli import app
from allocator.data.instance import Instance
from allocator.data.validate import load_instance
from allocator.plan.check import check_plan
from allocator.plan.tables import Plan, make_plan

TINY = Path(__file__).resolve().parents[2] / "instances" / "tiny"


def _plan(
    instance: Instance,
    ships: list[tuple[str, int, float]],
    surplus: list[tuple[str, int, float]] = (),  # type: ignore[assignment]
    accepted: dict[str, float] | None = None,
    *,
    racks_dtype: str = "int64",
) -> Plan:
    ship = pd.DataFrame(ships, columns=["order", "ship_period", "racks"]).astype(
        {"ship_period": "int64", "racks": racks_dtype}
    )
    made = pd.DataFrame(list(surplus), columns=["product", "period", "racks"]).astype(
        {"period": "int64", "racks": racks_dtype}
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


# --- stock balance (1) ---------------------------------------------------------------


def test_stock_balance_counts_each_period() -> None:
    """delay-late-supply: the only 2 racks arrive in period 3. Shipping both in period 3
    is fine; shipping one in period 2 (o2's window is 1..2) takes a rack that does not
    exist yet, although the horizon's total (2 made, 2 shipped) balances."""
    instance = load_instance(TINY / "delay-late-supply")
    assert check_plan(instance, _plan(instance, [("o1", 3, 2)])) == []
    early = check_plan(instance, _plan(instance, [("o1", 3, 1), ("o2", 2, 1)]))
    assert early == ["stock_balance: negative stock: P,2"]


def test_stock_balance_one_rack_over_the_supply() -> None:
    """internal-fill-penalty: 2 base racks in period 1 and no surplus; oa asks for 4."""
    instance = load_instance(TINY / "internal-fill-penalty")
    assert check_plan(instance, _plan(instance, [("oa", 1, 2)])) == []
    assert check_plan(instance, _plan(instance, [("oa", 1, 1), ("ob", 1, 1)])) == []
    over = check_plan(instance, _plan(instance, [("oa", 1, 2), ("ob", 1, 1)]))
    assert over == ["stock_balance: negative stock: P,1"]


def test_stock_balance_counts_initial_inventory() -> None:
    """stock-balance-initial: initial_inventory 2 + base 1 = 3 racks in period 1."""
    instance = load_instance(TINY / "stock-balance-initial")
    assert check_plan(instance, _plan(instance, [("o1", 1, 3)])) == []
    instance_without = load_instance(TINY / "internal-fill-strict-infeasible")  # 2 base, no v0
    assert check_plan(instance_without, _plan(instance_without, [("oa", 1, 2)])) == []
    over = check_plan(instance_without, _plan(instance_without, [("oa", 1, 3)]))
    assert _families(over) == {"stock_balance"}


# --- surplus bounds: s = 0 before available_from, s <= surplus_max_racks -------------


def test_surplus_before_available_from() -> None:
    """stock-balance-available-from: T4 ships from period 2; supply.csv allows 5 surplus
    racks in period 1, which the model must not use (s is zero before available_from)."""
    instance = load_instance(TINY / "stock-balance-available-from")
    assert check_plan(instance, _plan(instance, [("o1", 2, 2)], [("T4", 2, 2)])) == []
    # one surplus rack made one period early, carried in stock to period 2
    early = check_plan(instance, _plan(instance, [("o1", 2, 3)], [("T4", 1, 1), ("T4", 2, 2)]))
    assert early == ["surplus before available_from: T4,1"]


def test_surplus_above_surplus_max_racks() -> None:
    """foundry-surplus-max-racks: at most 1 surplus rack of B (4 wafers offered, B uses 2
    per rack, so the foundry alone would allow 2)."""
    instance = load_instance(TINY / "foundry-surplus-max-racks")
    inside = _plan(instance, [("oa", 1, 2), ("ob", 1, 1)], [("A", 1, 2), ("B", 1, 1)])
    assert check_plan(instance, inside) == []
    over = check_plan(instance, _plan(instance, [("ob", 1, 2)], [("B", 1, 2)]))
    assert over == ["surplus above surplus_max_racks: B,1"]


# --- foundry surplus (2) -------------------------------------------------------------


def test_foundry_wafers_above_the_offer() -> None:
    """foundry-surplus-shared: 4 surplus wafers in period 1; A takes 1 per rack, B 2."""
    instance = load_instance(TINY / "foundry-surplus-shared")
    inside = _plan(instance, [("oa", 1, 2), ("ob", 1, 1)], [("A", 1, 2), ("B", 1, 1)])
    assert check_plan(instance, inside) == []
    assert check_plan(instance, _plan(instance, [("ob", 1, 2)], [("B", 1, 2)])) == []
    over = _plan(instance, [("oa", 1, 3), ("ob", 1, 1)], [("A", 1, 3), ("B", 1, 1)])
    assert check_plan(instance, over) == ["foundry_surplus: wafers above offer: 1"]


# --- internal fill (4), strict --------------------------------------------------------


def test_strict_internal_fill() -> None:
    """internal-fill-strict-feasible: A committed min_fill 0.5 of 4 = 2 racks; 3 exist."""
    instance = load_instance(TINY / "internal-fill-strict-feasible")
    inside = _plan(instance, [("oa", 1, 2), ("ob", 1, 1)])
    assert check_plan(instance, inside, strict=True) == []
    short = _plan(instance, [("oa", 1, 1), ("ob", 1, 2)])
    assert check_plan(instance, short, strict=True) == ["internal_fill: short in strict mode: A"]
    # outside strict mode a shortfall is allowed (it is paid for in the objective)
    assert check_plan(instance, short, strict=False) == []


def test_strict_internal_fill_fractional_commitment() -> None:
    """internal-fill-fractional: A's commitment is 0.5 * 3 = 1.5 racks, so 1 rack is
    short by half a rack and 2 racks fill it (only 1 exists: stock goes negative)."""
    instance = load_instance(TINY / "internal-fill-fractional")
    assert check_plan(instance, _plan(instance, [("oa", 1, 1)]), strict=True) == [
        "internal_fill: short in strict mode: A"
    ]
    filled = check_plan(instance, _plan(instance, [("oa", 1, 2)]), strict=True)
    assert _families(filled) == {"stock_balance"}


# --- whole numbers (integral=True) ---------------------------------------------------


def test_fractional_racks() -> None:
    """relax-region-power: the LP relaxation ships 2.5 racks (25 kW at 10 kW a rack)."""
    instance = load_instance(TINY / "relax-region-power")
    whole = _plan(instance, [("oa", 1, 2.0)], racks_dtype="float64")
    assert check_plan(instance, whole, integral=True) == []
    noise = _plan(instance, [("oa", 1, 2.0 + 1e-9)], racks_dtype="float64")
    assert check_plan(instance, noise, integral=True) == []
    half = _plan(instance, [("oa", 1, 2.5)], racks_dtype="float64")
    assert check_plan(instance, half, integral=True) == ["fractional racks: oa@1"]
    assert check_plan(instance, half, integral=False) == []


def test_fractional_surplus_racks() -> None:
    """foundry-surplus-shared: surplus is the only supply; 1.5 surplus racks of A with 1
    shipped (half a rack left in stock) fit every limit but integrality."""
    instance = load_instance(TINY / "foundry-surplus-shared")
    whole = _plan(
        instance,
        [("oa", 1, 1.0), ("ob", 1, 1.0)],
        [("A", 1, 1.0), ("B", 1, 1.0)],
        racks_dtype="float64",
    )
    assert check_plan(instance, whole, integral=True) == []
    fractional = _plan(instance, [("oa", 1, 1.0)], [("A", 1, 1.5)], racks_dtype="float64")
    assert check_plan(instance, fractional, integral=True) == ["fractional surplus racks: A,1"]
    assert check_plan(instance, fractional, integral=False) == []


def test_fractional_deal() -> None:
    """relax-third-party-onboarding: the LP accepts T's deal by half (2 racks <= 4 * 0.5)."""
    instance = load_instance(TINY / "relax-third-party-onboarding")
    assert check_plan(instance, _plan(instance, [("ot", 1, 2)], accepted={"T": 1.0})) == []
    half = _plan(instance, [("ot", 1, 2)], accepted={"T": 0.5})
    assert check_plan(instance, half, integral=True) == ["fractional deal accepted: T"]
    assert check_plan(instance, half, integral=False) == []


# --- allocator solve refuses a plan that fails its check -------------------------------


def _one_rack_more(order: str) -> object:
    """A stand-in for `allocator.solver.pipeline.extract_plan`: the real extraction, then one
    rack more on ``order``'s first shipment (the real `check_plan` then runs on it)."""
    real = allocator.solver.pipeline.extract_plan

    def extract(*args: object, **kwargs: object) -> Plan:
        plan = real(*args, **kwargs)  # type: ignore[arg-type]
        allocation = plan.allocation.copy()
        row = allocation.index[allocation["order"] == order][0]
        allocation.loc[row, "racks"] += 1
        return Plan(allocation, plan.surplus, plan.deal_accepted)

    return extract


@pytest.mark.parametrize(
    "instance_name, order, violation",
    [
        # 3 racks of o1 shipped (the order's quantity), 5 base racks: a 4th breaks (3)
        ("order-quantity-cap", "o1", "order_quantity: over-shipped: o1"),
        # 2 + 1 racks exist and all 3 ship to o1 (its quantity): a 4th breaks (1) and (3)
        ("stock-balance-initial", "o1", "stock_balance: negative stock: P,1"),
    ],
)
def test_solve_refuses_a_plan_that_fails_its_check(
    instance_name: str,
    order: str,
    violation: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instance = TINY / instance_name
    runner = CliRunner()
    kept = tmp_path / "kept"
    first = runner.invoke(app, ["solve", str(instance), "--out", str(kept), "-q"])
    assert first.exit_code == 0, first.output
    before = {path.name: path.read_bytes() for path in kept.iterdir()}
    assert "allocation.csv" in before

    monkeypatch.setattr(allocator.solver.pipeline, "extract_plan", _one_rack_more(order))
    fresh = tmp_path / "fresh"
    refused = runner.invoke(app, ["solve", str(instance), "--out", str(fresh), "-q"])
    assert refused.exit_code == 1, refused.output
    assert "fails its own check" in refused.output
    assert violation in refused.output
    assert not fresh.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kept"]  # no temp sibling

    again = runner.invoke(app, ["solve", str(instance), "--out", str(kept), "-q"])
    assert again.exit_code == 1, again.output
    assert violation in again.output
    assert {path.name: path.read_bytes() for path in kept.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kept"]
