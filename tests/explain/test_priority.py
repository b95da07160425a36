"""why_short under the lexicographic rule: a customer short because a higher tier took
the racks says so, with the tiers; one short because fair share holds a customer of its
own tier at the tier's lowest fill rate says that, with the rate."""

from __future__ import annotations

from pathlib import Path

from allocator.data.validate import load_instance
from allocator.explain.why import why_short
from allocator.plan.tables import customer_table
from allocator.solver.highs import SolverOptions
from allocator.solver.pipeline import RunOptions, solve_instance

TINY = Path(__file__).resolve().parents[2] / "instances" / "tiny"


def reasons_of(name: str) -> dict[str, dict[str, str]]:
    """Per short customer, reason code -> text."""
    instance = load_instance(TINY / name)
    result = solve_instance(instance, RunOptions(SolverOptions(mip_gap=0.0), priority_cost=False))
    assert result.plan is not None and result.violations == []
    customers = customer_table(instance, result.plan)
    found = why_short(
        instance, result.plan.allocation, result.plan.surplus, customers, result.marginal_values
    )
    return {c: {reason.code: reason.text for reason in reasons} for c, reasons in found.items()}


def test_a_lower_tier_is_told_a_higher_tier_came_first() -> None:
    """One rack: R (tier 1, worth 10) gets it before buyer B (tier 2, pays 100)."""
    reasons = reasons_of("priority-tier-before-price")
    assert set(reasons) == {"B"}
    assert reasons["B"]["higher_tier"] == (
        "higher tiers are served first (1 rack): tier 1 customers got 1 rack of P in its "
        "delivery windows (it is tier 2, lexicographic rule)"
    )


def test_a_substitute_taken_by_a_higher_tier_counts() -> None:
    """R (tier 1) takes B's one rack as a substitute: the buyer of B (tier 2) is told."""
    reasons = reasons_of("priority-tier-takes-substitute")
    assert "tier 1 customers got 1 rack of B" in reasons["B"]["higher_tier"]


def test_fair_share_names_the_customer_at_the_floor() -> None:
    """4 racks, A orders 2 and B 6, both tier 1: both end at 50%; each is told the other
    is held at that rate."""
    reasons = reasons_of("priority-fair-share-split")
    assert reasons["A"]["fair_share"] == (
        "fair share holds tier 1's lowest fill rate at 50.0% (1 rack): B at that rate got "
        "3 racks in its delivery windows"
    )
    assert "A at that rate got 1 rack" in reasons["B"]["fair_share"]
    assert "higher_tier" not in reasons["A"]


def test_profit_rule_has_no_priority_reason() -> None:
    reasons = reasons_of("substitute-outbid-by-another-order")
    assert all(
        code not in ("higher_tier", "fair_share") for codes in reasons.values() for code in codes
    )
