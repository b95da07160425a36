"""Why a customer is short: tiny instances built so that exactly one reason holds, each
checked for that reason alone and for the number it carries."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from allocator.data.validate import load_instance
from allocator.explain.why import Reason, why_short, why_short_column
from allocator.plan.tables import customer_table
from allocator.solver.pipeline import RunOptions, solve_instance

HEADERS = {
    "products.csv": "product,available_from,wafers_per_rack,power_kw,holding_cost,"
    "initial_inventory\n",
    "supply.csv": "product,period,base_racks,surplus_max_racks,surplus_cost\n",
    "foundry.csv": "period,surplus_wafers\n",
    "customers.csv": "customer,segment,region,min_fill,onboarding_cost,min_contract_racks\n",
    "orders.csv": "order,customer,product,period,racks,price_per_rack,max_delay,delay_penalty\n",
    "services.csv": "service,product,margin_per_rack\n",
    "attach.csv": "customer,service,attach_rate\n",
    "regions.csv": "region,period,power_kw\n",
}


def build(
    folder: Path, rows: dict[str, str], periods: int = 1, share: float = 1.0, penalty: float = 0.0
) -> Path:
    """An instance folder: the given CSV rows under each header (P: 1 wafer, 10 kW)."""
    folder.mkdir(parents=True)
    (folder / "instance.toml").write_text(
        f'name = "{folder.name}"\nperiods = {periods}\nstart = "2027-01"\n[policy]\n'
        f"third_party_max_share = {share}\ninternal_shortfall_penalty = {penalty}\n",
        encoding="utf-8",
    )
    rows = {"products.csv": "P,1,1,10,0,0\n", **rows}
    for name, header in HEADERS.items():
        (folder / name).write_text(header + rows.get(name, ""), encoding="utf-8")
    return folder


def reasons_of(folder: Path) -> dict[str, list[Reason]]:
    instance = load_instance(folder)
    result = solve_instance(instance, RunOptions())
    assert result.plan is not None and not result.violations
    customers = customer_table(instance, result.plan)
    return why_short(
        instance,
        result.plan.allocation,
        result.plan.surplus,
        customers,
        result.marginal_values,
    )


def only(reasons: dict[str, list[Reason]], customer: str) -> Reason:
    """The one reason ``customer`` has (fails if it has another)."""
    assert [reason.code for reason in reasons[customer]] == [reasons[customer][0].code]
    return reasons[customer][0]


def test_no_supply_in_its_window(tmp_path: Path) -> None:
    """A wants 2 racks in month 1 with no delay; the only racks come in month 2."""
    folder = build(
        tmp_path / "no-supply",
        {
            "supply.csv": "P,2,5,0,0\n",
            "customers.csv": "A,internal,r1,0,0,0\n",
            "orders.csv": "a,A,P,1,2,100,0,0\n",
        },
        periods=2,
    )
    reason = only(reasons_of(folder), "A")
    assert reason.code == "no_supply"
    assert reason.racks == 2
    assert reason.figure == 0
    assert "0 racks of P can be made or held by 2027-01" in reason.text


def test_every_rack_earns_more_elsewhere(tmp_path: Path) -> None:
    """3 racks: A (100) takes 2, C (80) the last one, B (50) none. One more rack would go
    to C, so the marginal value is 80 > B's 50; C itself got what was left."""
    folder = build(
        tmp_path / "outbid",
        {
            "supply.csv": "P,1,3,0,0\n",
            "customers.csv": "A,internal,r1,0,0,0\nB,internal,r1,0,0,0\nC,internal,r1,0,0,0\n",
            "orders.csv": "a,A,P,1,2,100,0,0\nb,B,P,1,2,50,0,0\nc,C,P,1,2,80,0,0\n",
        },
    )
    reasons = reasons_of(folder)
    assert set(reasons) == {"B", "C"}
    reason = only(reasons, "B")
    assert reason.code == "outbid"
    assert reason.figure == pytest.approx(80.0)
    assert "worth USD 80 at the margin, b earns USD 50 per rack" in reason.text
    left = only(reasons, "C")
    assert left.code == "no_supply"
    assert "no supply left" in left.text and "3 racks are shipped by then, 1 of them" in left.text


def test_third_party_share_cap_binding(tmp_path: Path) -> None:
    """Share 0.5: T (200 a rack) gets no more racks than B ships (2), supply is ample."""
    folder = build(
        tmp_path / "share",
        {
            "supply.csv": "P,1,6,0,0\n",
            "customers.csv": "T,third_party,dc,0,0,0\nB,internal,r1,0,0,0\n",
            "orders.csv": "t,T,P,1,4,200,0,0\nb,B,P,1,2,50,0,0\n",
        },
        share=0.5,
    )
    reason = only(reasons_of(folder), "T")
    assert reason.code == "share_cap"
    assert reason.figure == pytest.approx(0.0)
    assert "third parties get 2 of 4 racks shipped (50.0%, cap 50.0%)" in reason.text


def test_region_power_full(tmp_path: Path) -> None:
    """Region r1 has 20 kW, a rack draws 10 kW: A gets 2 of its 4 racks. One more kW is
    worth a tenth of a rack: 100 / 10 = 10."""
    folder = build(
        tmp_path / "power",
        {
            "supply.csv": "P,1,10,0,0\n",
            "customers.csv": "A,internal,r1,0,0,0\n",
            "orders.csv": "a,A,P,1,4,100,0,0\n",
            "regions.csv": "r1,1,20\n",
        },
    )
    reason = only(reasons_of(folder), "A")
    assert reason.code == "region_power"
    assert reason.figure == pytest.approx(10.0)
    assert "r1 has used 20 of 20 kW by 2027-01 (slack 0 kW" in reason.text


def test_deal_not_worth_its_onboarding_cost(tmp_path: Path) -> None:
    """T's whole deal (5 racks at 100) earns 500 against 1,000 of onboarding."""
    folder = build(
        tmp_path / "onboarding",
        {
            "supply.csv": "P,1,10,0,0\n",
            "customers.csv": "T,third_party,dc,0,1000,1\n",
            "orders.csv": "t,T,P,1,5,100,0,0\n",
        },
    )
    reason = only(reasons_of(folder), "T")
    assert reason.code == "deal_not_worth"
    assert reason.figure == pytest.approx(500.0)
    assert "earns at most USD 500" in reason.text and "onboarding costs USD 1k" in reason.text


def test_deal_minimum_size_cannot_be_supplied(tmp_path: Path) -> None:
    """T's minimum deal is 3 racks; only 2 can ever exist, and nobody else wants them."""
    folder = build(
        tmp_path / "min-size",
        {
            "supply.csv": "P,1,2,0,0\n",
            "customers.csv": "T,third_party,dc,0,0,3\n",
            "orders.csv": "t,T,P,1,4,200,0,0\n",
        },
    )
    reason = only(reasons_of(folder), "T")
    assert reason.code == "deal_not_worth"
    assert reason.figure == pytest.approx(2.0)
    assert "the minimum deal is 3 racks, at most 2 can be made or held" in reason.text


def test_surplus_costs_more_than_it_earns(tmp_path: Path) -> None:
    """One base rack ships; surplus racks cost 120 against the order's 100."""
    folder = build(
        tmp_path / "surplus",
        {
            "supply.csv": "P,1,1,5,120\n",
            "foundry.csv": "1,10\n",
            "customers.csv": "C,internal,r1,0,0,0\n",
            "orders.csv": "c,C,P,1,3,100,0,0\n",
        },
    )
    reason = only(reasons_of(folder), "C")
    assert reason.code == "surplus_cost"
    assert reason.figure == pytest.approx(120.0)


def test_column_is_empty_for_customers_not_short_and_works_without_duals(
    tmp_path: Path,
) -> None:
    folder = build(
        tmp_path / "mixed",
        {
            "supply.csv": "P,2,5,0,0\n",
            "customers.csv": "A,internal,r1,0,0,0\nB,internal,r1,0,0,0\n",
            "orders.csv": "a,A,P,1,2,100,0,0\nb,B,P,2,2,100,0,0\n",
        },
        periods=2,
    )
    instance = load_instance(folder)
    result = solve_instance(instance, RunOptions(marginal_values=False))
    assert result.plan is not None and result.marginal_values is None
    customers = customer_table(instance, result.plan)
    column = why_short_column(
        instance, result.plan.allocation, result.plan.surplus, customers, None
    )
    texts = dict(zip(customers["customer"], column, strict=True))
    assert texts["B"] == ""
    assert texts["A"].startswith("no supply in its delivery window (2 racks)")


def test_solve_writes_why_short_into_customers_csv(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from allocator.cli import app

    folder = build(
        tmp_path / "cli",
        {
            "supply.csv": "P,1,10,0,0\n",
            "customers.csv": "A,internal,r1,0,0,0\n",
            "orders.csv": "a,A,P,1,4,100,0,0\n",
            "regions.csv": "r1,1,20\n",
        },
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["solve", str(folder), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    customers = pd.read_csv(out / "customers.csv").set_index("customer")
    assert customers.loc["A", "why_short"].startswith("its region's power is full (2 racks)")


def test_substitute_with_stock_kept_for_an_order_worth_more() -> None:
    """substitute-outbid-by-another-order: o1 is short of A; its substitute B had a rack
    in stock in period 1, kept for o2, which takes it in period 2 at 80 (50 to o1)."""
    folder = Path(__file__).resolve().parents[2] / "instances" / "tiny"
    reasons = reasons_of(folder / "substitute-outbid-by-another-order")
    passed = [reason for reason in reasons["C1"] if reason.code == "substitute_passed"]
    assert len(passed) == 1
    assert passed[0].figure == 80.0 and passed[0].racks == 1.0
    assert "its substitute B had 1 rack left in stock in 2027-01" in passed[0].text
    assert "worth USD 50 to it" in passed[0].text
    assert "o2 takes it in 2027-02 at USD 80" in passed[0].text
    assert "C2" not in reasons


def test_substitute_worth_nothing_by_then(tmp_path: Path) -> None:
    """o1 wants A (none left) and may take B, which arrives only in period 3, 2 periods
    late at 60 a period on a price of 100: B is worth -20 to it and stays in stock."""
    folder = build(
        tmp_path / "instance",
        periods=3,
        rows={
            "products.csv": "A,1,1,10,0,0\nB,1,1,10,0,0\n",
            "supply.csv": "B,3,1,0,0\n",
            "customers.csv": "C,internal,r,0,0,0\n",
            "orders.csv": "o1,C,A,1,1,100,2,60\n",
        },
    )
    (folder / "substitutes.csv").write_text(
        "order,product,price_per_rack\no1,B,100\n", encoding="utf-8"
    )
    passed = [r for r in reasons_of(folder)["C"] if r.code == "substitute_passed"]
    assert len(passed) == 1 and passed[0].figure == -20.0
    assert "worth nothing to the order by then" in passed[0].text


def test_substitute_blocked_by_region_power(tmp_path: Path) -> None:
    """o1 wants 2 racks of A (one made); its substitute B (one made, 90 a rack) would fit
    the stock but not the region: A's rack draws 10 of the 20 kW, one of B 15."""
    folder = build(
        tmp_path / "instance",
        {
            "products.csv": "A,1,1,10,0,0\nB,1,1,15,0,0\n",
            "supply.csv": "A,1,1,0,0\nB,1,1,0,0\n",
            "customers.csv": "C,internal,r,0,0,0\n",
            "orders.csv": "o1,C,A,1,2,100,0,0\n",
            "regions.csv": "r,1,20\n",
        },
    )
    (folder / "substitutes.csv").write_text(
        "order,product,price_per_rack\no1,B,90\n", encoding="utf-8"
    )
    passed = [r for r in reasons_of(folder)["C"] if r.code == "substitute_passed"]
    assert len(passed) == 1 and passed[0].figure == 90.0  # what the rack would gain
    assert "its region's power is full: r has used 10 of 20 kW by 2027-01" in passed[0].text
    assert "a rack of B draws 15 kW" in passed[0].text


def test_substitute_values_only_the_shortfall_a_rack_removes(tmp_path: Path) -> None:
    """C (min fill 0.5 of 3 racks: 1.5) gets the one A rack and stays 0.5 short; B's one
    rack is worth 10 + 0.5 x 1000 = 510 to it, not 1,010, and goes to o2 at 600."""
    folder = build(
        tmp_path / "instance",
        {
            "products.csv": "A,1,1,10,0,0\nB,1,1,10,0,0\n",
            "supply.csv": "A,1,1,0,0\nB,1,1,0,0\n",
            "customers.csv": "C,internal,r,0.5,0,0\nD,internal,r,0,0,0\n",
            "orders.csv": "o1,C,A,1,3,10,0,0\no2,D,B,1,1,600,0,0\n",
        },
        penalty=1000.0,
    )
    (folder / "substitutes.csv").write_text(
        "order,product,price_per_rack\no1,B,10\n", encoding="utf-8"
    )
    passed = [r for r in reasons_of(folder)["C"] if r.code == "substitute_passed"]
    assert passed == []  # B's rack ships to o2 in month 1: no stock was left
    folder_two = build(
        tmp_path / "later",
        {
            "products.csv": "A,1,1,10,0,0\nB,1,1,10,0,0\n",
            "supply.csv": "A,1,1,0,0\nA,2,0,0,0\nB,1,1,0,0\nB,2,0,0,0\n",
            "customers.csv": "C,internal,r,0.5,0,0\nD,internal,r,0,0,0\n",
            "orders.csv": "o1,C,A,1,3,10,0,0\no2,D,B,2,1,600,0,0\n",
        },
        periods=2,
        penalty=1000.0,
    )
    (folder_two / "substitutes.csv").write_text(
        "order,product,price_per_rack\no1,B,10\n", encoding="utf-8"
    )
    passed = [r for r in reasons_of(folder_two)["C"] if r.code == "substitute_passed"]
    assert len(passed) == 1 and passed[0].figure == 600.0
    assert "a rack of B worth USD 510 to it" in passed[0].text
    assert "o2 takes it in 2027-02 at USD 600" in passed[0].text
