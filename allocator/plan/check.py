"""The plan's independent re-check: every constraint of the contract on its own rows.

Run before anything is written or published.

Nothing here knows the model: stock, shortfall and every sum are recomputed from the
plan's shipments, surplus racks and deals and the instance's tables, so a plan that
passes here is feasible whatever the model or HiGHS did.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.plan.tables import Plan, shipped_by_customer, shortfall_racks, stock_table


def check_plan(
    instance: Instance,
    plan: Plan,
    *,
    strict: bool = False,
    integral: bool = True,
    tolerance: float = 1e-6,
) -> list[str]:
    """Every constraint of the contract re-checked on the plan's rows; the violations found."""
    violations: list[str] = []
    allocation = plan.allocation
    orders = instance.orders.set_index("order")
    products = instance.products.set_index("product")
    scale = 1.0 + tolerance

    def flag(bad: pd.Series, message: str, labels: pd.Series) -> None:
        violations.extend(f"{message}: {label}" for label in labels[bad.to_numpy()])

    if integral:
        surplus_rows = plan.surplus
        for name, values, labels in (
            (
                "racks",
                allocation["racks"],
                allocation["order"] + "@" + allocation["ship_period"].astype(str),
            ),
            (
                "surplus racks",
                surplus_rows["racks"],
                surplus_rows["product"] + "," + surplus_rows["period"].astype(str),
            ),
            ("deal accepted", plan.deal_accepted, pd.Series(plan.deal_accepted.index.astype(str))),
        ):
            fractional = (values - values.round()).abs() > tolerance
            flag(fractional, f"fractional {name}", labels.reset_index(drop=True))
    option = instance.option_rows(allocation["order"], allocation["product"])
    not_allowed = pd.Series(option < 0, index=allocation.index)
    flag(
        not_allowed,
        "ships a product the order may not take",
        allocation["order"] + ":" + allocation["product"],
    )
    options = instance.ship_options
    window_first = pd.Series(
        np.where(option >= 0, options["first_ship"].to_numpy()[option], 0), index=allocation.index
    )
    window_last = pd.Series(
        np.where(option >= 0, options["last_ship"].to_numpy()[option], -1), index=allocation.index
    )
    outside = ~not_allowed & (
        (allocation["ship_period"] < window_first) | (allocation["ship_period"] > window_last)
    )
    flag(
        outside,
        "ships outside its window W(o)",
        allocation["order"] + "@" + allocation["ship_period"].astype(str),
    )
    flag(allocation["racks"] < -tolerance, "negative racks", allocation["order"])

    stock = stock_table(instance, plan)
    flag(
        stock["stock"] < -tolerance,
        "stock_balance: negative stock",
        stock["product"] + "," + stock["period"].astype(str),
    )

    surplus = plan.surplus.merge(instance.supply, on=["product", "period"], how="left")
    available_from = surplus["product"].map(products["available_from"])
    flag(
        surplus["period"] < available_from,
        "surplus before available_from",
        surplus["product"] + "," + surplus["period"].astype(str),
    )
    flag(
        surplus["racks"] > surplus["surplus_max_racks"] * scale + tolerance,
        "surplus above surplus_max_racks",
        surplus["product"] + "," + surplus["period"].astype(str),
    )
    wafers = (
        (surplus["racks"] * surplus["product"].map(products["wafers_per_rack"]))
        .groupby(surplus["period"])
        .sum()
    )
    offered = instance.surplus_wafers.reindex(wafers.index)
    flag(
        wafers > offered * scale + tolerance,
        "foundry_surplus: wafers above offer",
        pd.Series(wafers.index.astype(str)),
    )

    shipped_order = allocation.groupby("order")["racks"].sum()
    over = shipped_order > orders["racks"].reindex(shipped_order.index) * scale + tolerance
    flag(over, "order_quantity: over-shipped", pd.Series(shipped_order.index))

    if strict:
        short = shortfall_racks(instance, plan)
        flag(short > tolerance, "internal_fill: short in strict mode", pd.Series(short.index))

    shipped = shipped_by_customer(instance, plan)
    customers = instance.customers.set_index("customer")
    accepted = plan.deal_accepted
    requested = instance.orders.groupby("customer")["racks"].sum()
    deal_shipped = shipped.reindex(accepted.index, fill_value=0)
    low = customers["min_contract_racks"].reindex(accepted.index).astype(float) * accepted
    high = requested.reindex(accepted.index, fill_value=0).astype(float) * accepted
    outside_deal = (deal_shipped < low - tolerance * scale) | (
        deal_shipped > high * scale + tolerance
    )
    for customer in accepted.index[outside_deal.to_numpy()]:
        violations.append(
            f"third_party_deal: {customer} ships {deal_shipped[customer]} "
            f"with y={accepted[customer]}"
        )

    third_party = allocation.loc[allocation["segment"] == "third_party", "racks"].sum()
    total = allocation["racks"].sum()
    if third_party > instance.policy.third_party_max_share * total * scale + tolerance:
        violations.append(f"third_party_share: {third_party} of {total} racks")

    # cumulative kW per region up to each period: sum per (region, ship period), then a
    # running sum over every period 1..T, read at the regions.csv rows
    power = allocation["product"].map(products["power_kw"]) * allocation["racks"]
    region = allocation["order"].map(orders["region"])
    periods = pd.RangeIndex(1, instance.periods + 1)
    per_period = (
        power.groupby([region, allocation["ship_period"]]).sum().unstack(fill_value=0)
        if len(allocation)
        else pd.DataFrame(dtype=float)
    )
    cumulative = per_period.reindex(columns=periods, fill_value=0.0).cumsum(axis=1).stack()
    limits = instance.regions
    keys = pd.MultiIndex.from_arrays([limits["region"], limits["period"]])
    used = pd.Series(cumulative.reindex(keys, fill_value=0.0).to_numpy(), index=limits.index)
    over_power = used > limits["power_kw"] * scale + tolerance
    for region_name, period, kw, limit in zip(
        limits["region"][over_power],
        limits["period"][over_power],
        used[over_power],
        limits["power_kw"][over_power],
        strict=True,
    ):
        violations.append(f"region_power: {region_name},{period} uses {kw:g} of {limit:g} kW")
    return violations
