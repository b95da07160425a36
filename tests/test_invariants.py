"""Invariants recomputed from the written files alone, independently of allocator's code.

The instance is read with plain pandas and the plan from the result folder's CSVs; every
SPEC.md constraint is checked and the objective recomputed from the plan's rows.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from allocator.cli import app

ROOT = Path(__file__).resolve().parent.parent
TINY = sorted(p for p in (ROOT / "instances" / "tiny").iterdir() if p.is_dir())


def _read(folder: Path, name: str, columns: list[str]) -> pd.DataFrame:
    path = folder / f"{name}.csv"
    return pd.read_csv(path) if path.exists() else pd.DataFrame(columns=columns)


def check_written_plan(instance_dir: Path, out: Path, *, strict: bool = False) -> None:
    settings = tomllib.loads((instance_dir / "instance.toml").read_text())
    periods = settings["periods"]
    share = settings["policy"]["third_party_max_share"]
    penalty = settings["policy"]["internal_shortfall_penalty"]
    products = pd.read_csv(instance_dir / "products.csv").set_index("product")
    supply = pd.read_csv(instance_dir / "supply.csv").set_index(["product", "period"])
    foundry = pd.read_csv(instance_dir / "foundry.csv").set_index("period")["surplus_wafers"]
    customers = pd.read_csv(instance_dir / "customers.csv").set_index("customer")
    orders = pd.read_csv(instance_dir / "orders.csv").set_index("order")
    services = _read(instance_dir, "services", ["service", "product", "margin_per_rack"])
    attach = _read(instance_dir, "attach", ["customer", "service", "attach_rate"])
    regions = _read(instance_dir, "regions", ["region", "period", "power_kw"])

    summary = json.loads((out / "summary.json").read_text())
    allocation = pd.read_csv(out / "allocation.csv")
    surplus = pd.read_csv(out / "surplus.csv")
    written_customers = pd.read_csv(out / "customers.csv").set_index("customer")
    written_stock = pd.read_csv(out / "stock.csv")
    assert list(allocation.columns) == [
        "order",
        "customer",
        "segment",
        "product",
        "period",
        "ship_period",
        "racks",
    ]
    assert list(surplus.columns) == ["product", "period", "racks"]
    assert (allocation["racks"] > 0).all() and (surplus["racks"] > 0).all()

    # windows respected, no order over-shipped
    order = orders.loc[allocation["order"]]
    first = np.maximum(order["period"].to_numpy(), products.loc[order["product"], "available_from"])
    last = np.minimum(order["period"].to_numpy() + order["max_delay"].to_numpy(), periods)
    assert (allocation["ship_period"].to_numpy() >= first).all()
    assert (allocation["ship_period"].to_numpy() <= last).all()
    per_order = allocation.groupby("order")["racks"].sum()
    assert (per_order <= orders.loc[per_order.index, "racks"]).all()

    # stock never negative, and equal to what stock.csv says
    holding_total = 0.0
    for product, row in products.iterrows():
        stock = float(row["initial_inventory"])
        for period in range(1, periods + 1):
            base = supply["base_racks"].get((product, period), 0)
            made = surplus.loc[
                (surplus["product"] == product) & (surplus["period"] == period), "racks"
            ].sum()
            shipped = allocation.loc[
                (allocation["product"] == product) & (allocation["ship_period"] == period), "racks"
            ].sum()
            stock += base + made - shipped
            assert stock >= -1e-9, f"negative stock {product} {period}"
            written = written_stock.loc[
                (written_stock["product"] == product) & (written_stock["period"] == period),
                "stock",
            ]
            assert math.isclose(float(written.iloc[0]), stock, abs_tol=1e-6)
            holding_total += row["holding_cost"] * stock

    # surplus within its limits and the foundry's wafers
    wafers: dict[int, float] = {}
    for row in surplus.itertuples():
        assert row.period >= products.loc[row.product, "available_from"]
        assert row.racks <= supply.loc[(row.product, row.period), "surplus_max_racks"]
        wafers[row.period] = (
            wafers.get(row.period, 0.0) + row.racks * products.loc[row.product, "wafers_per_rack"]
        )
    for period, used in wafers.items():
        assert used <= foundry.get(period, 0.0) + 1e-6

    # region power, cumulative
    region_of = allocation["customer"].map(customers["region"])
    kw = allocation["product"].map(products["power_kw"]) * allocation["racks"]
    for row in regions.itertuples():
        used = kw[(region_of == row.region) & (allocation["ship_period"] <= row.period)].sum()
        assert used <= row.power_kw + 1e-6

    # third-party share and deals
    third_party = allocation.loc[allocation["segment"] == "third_party", "racks"].sum()
    assert third_party <= share * allocation["racks"].sum() + 1e-6
    shipped_by = allocation.groupby("customer")["racks"].sum()
    requested_by = orders.groupby("customer")["racks"].sum()
    onboarding_total = penalty_total = 0.0
    for customer, row in customers.iterrows():
        shipped = float(shipped_by.get(customer, 0))
        requested = float(requested_by.get(customer, 0))
        written = written_customers.loc[customer]
        assert math.isclose(written["allocated"], shipped)
        assert math.isclose(written["waiting_list_racks"], requested - shipped)
        if row["segment"] == "third_party":
            accepted = float(written["deal_accepted"])
            assert accepted in (0.0, 1.0)
            assert row["min_contract_racks"] * accepted <= shipped <= requested * accepted
            onboarding_total += row["onboarding_cost"] * accepted
        else:
            short = max(0.0, row["min_fill"] * requested - shipped)
            assert not (strict and short > 1e-9)
            penalty_total += penalty * short

    # objective recomputed from the plan's rows
    margin = attach.merge(services, on="service")
    margin["value"] = margin["attach_rate"] * margin["margin_per_rack"]
    margin_of = margin.groupby(["customer", "product"])["value"].sum()
    revenue = 0.0
    for row in allocation.itertuples():
        unit = orders.loc[row.order, "price_per_rack"] + margin_of.get(
            (row.customer, row.product), 0
        )
        late = row.ship_period - row.period
        revenue += row.racks * (unit - orders.loc[row.order, "delay_penalty"] * late)
    surplus_cost = sum(
        row.racks * supply.loc[(row.product, row.period), "surplus_cost"]
        for row in surplus.itertuples()
    )
    objective = revenue - surplus_cost - holding_total - onboarding_total - penalty_total
    assert math.isclose(summary["objective"], objective, rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(
        summary["objective"], sum(summary["objective_terms"].values()), rel_tol=1e-9, abs_tol=1e-6
    )
    assert math.isclose(
        summary["objective"], summary["solver_objective"], rel_tol=1e-7, abs_tol=1e-4
    )
    assert summary["best_bound"] >= summary["objective"] - 1e-6 * max(1.0, abs(objective))


def _solve(instance_dir: Path, out: Path, *extra: str) -> None:
    result = CliRunner().invoke(app, ["solve", str(instance_dir), "--out", str(out), "-q", *extra])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "instance_dir",
    [p for p in TINY if "relax" not in p.name and "infeasible" not in p.name],
    ids=lambda p: p.name,
)
def test_tiny_plans_hold_every_constraint(instance_dir: Path, tmp_path: Path) -> None:
    strict = "strict" in instance_dir.name
    _solve(instance_dir, tmp_path / "out", "--mip-gap", "0", *(["--strict"] if strict else []))
    check_written_plan(instance_dir, tmp_path / "out", strict=strict)


def test_base_2027_plan_holds_every_constraint(tmp_path: Path) -> None:
    instance_dir = ROOT / "instances" / "base-2027"
    _solve(instance_dir, tmp_path / "out", "--time-limit", "60")
    check_written_plan(instance_dir, tmp_path / "out")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_plans_hold_every_constraint(seed: int, tmp_path: Path) -> None:
    instance_dir = tmp_path / "instance"
    generated = CliRunner().invoke(
        app,
        [
            "generate",
            str(instance_dir),
            "--regions",
            "3",
            "--buyers",
            "5",
            "--periods",
            "6",
            "--seed",
            str(seed),
        ],
    )
    assert generated.exit_code == 0, generated.output
    _solve(instance_dir, tmp_path / "out")
    check_written_plan(instance_dir, tmp_path / "out")
