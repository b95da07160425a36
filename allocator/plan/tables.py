"""A plan as tidy tables, its summaries, its objective terms and an independent check.

Nothing here knows the model: stock, shortfall and every objective term are recomputed
from the plan's own rows (shipments, surplus racks, deals accepted) and the instance,
so `check_plan` re-checks every SPEC.md constraint independently of Pyomo and HiGHS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocator.data.instance import Instance

ALLOCATION_COLUMNS = ["order", "customer", "segment", "product", "period", "ship_period", "racks"]
SURPLUS_COLUMNS = ["product", "period", "racks"]


@dataclass(frozen=True)
class Plan:
    """What the optimizer decides.

    ``allocation``: ALLOCATION_COLUMNS, rows with racks > 0 (``period`` is the
    requested period, ``ship_period`` when it ships). ``surplus``: SURPLUS_COLUMNS,
    rows with racks > 0. ``deal_accepted``: y[c] per third-party customer (0/1 for a
    MIP plan, in [0, 1] for the LP relaxation).
    """

    allocation: pd.DataFrame
    surplus: pd.DataFrame
    deal_accepted: pd.Series


def make_plan(
    instance: Instance, ship: pd.DataFrame, surplus: pd.DataFrame, deal_accepted: pd.Series
) -> Plan:
    """Complete ``ship`` (order, ship_period, racks) and ``surplus`` (product, period,
    racks) into a `Plan`, dropping rows with no racks."""
    orders = instance.orders.set_index("order")
    ship = ship.loc[ship["racks"] > 0].copy()
    for column in ("customer", "segment", "product", "period"):
        ship[column] = ship["order"].map(orders[column])
    allocation = (
        ship[ALLOCATION_COLUMNS].sort_values(["order", "ship_period"]).reset_index(drop=True)
    )
    surplus = (
        surplus.loc[surplus["racks"] > 0, SURPLUS_COLUMNS]
        .sort_values(["product", "period"])
        .reset_index(drop=True)
    )
    third_party = instance.customers.loc[instance.customers["segment"] == "third_party", "customer"]
    accepted = deal_accepted.reindex(third_party, fill_value=0).astype(float)
    return Plan(allocation, surplus, accepted)


def empty_plan(instance: Instance) -> Plan:
    """Ship nothing, make no surplus, accept no deal: always feasible outside strict mode."""
    ship = pd.DataFrame(
        {
            "order": pd.Series(dtype=str),
            "ship_period": pd.Series(dtype="int64"),
            "racks": pd.Series(dtype="int64"),
        }
    )
    surplus = pd.DataFrame(
        {
            "product": pd.Series(dtype=str),
            "period": pd.Series(dtype="int64"),
            "racks": pd.Series(dtype="int64"),
        }
    )
    return make_plan(instance, ship, surplus, pd.Series(dtype=float))


def round_plan(instance: Instance, plan: Plan) -> Plan:
    """A feasible integer plan near a fractional one (the LP relaxation's), for a MIP start.

    Racks are rounded down; then shipments are cut, lowest unit value first, where a
    product's stock would go negative, where a third party falls below its minimum
    contract (all of its racks) and while the third-party share is exceeded. Rounding
    down and cutting never break the order, foundry or power limits. Strict internal
    fill may still fail: `check_plan` tells.
    """
    orders = instance.orders.set_index("order")
    allocation = plan.allocation.copy()
    allocation["racks"] = np.floor(allocation["racks"].astype(float) + 1e-6).astype("int64")
    late = allocation["ship_period"] - allocation["period"]
    allocation["unit_value"] = (
        allocation["order"].map(orders["price_per_rack"] + orders["margin_per_rack"])
        - allocation["order"].map(orders["delay_penalty"]) * late
    )
    allocation = allocation.sort_values("unit_value", kind="stable")
    surplus = plan.surplus.copy()
    surplus["racks"] = np.floor(surplus["racks"].astype(float) + 1e-6).astype("int64")
    racks = allocation["racks"].to_numpy().copy()
    products = allocation["product"].to_numpy()
    ship_periods = allocation["ship_period"].to_numpy()
    made = surplus.groupby(["product", "period"])["racks"].sum()
    initial = instance.products.set_index("product")["initial_inventory"]
    for product, period, base in zip(
        instance.supply["product"],
        instance.supply["period"],
        instance.supply["base_racks"],
        strict=True,
    ):
        if period == 1:
            stock = float(initial[product])
        rows = np.flatnonzero((products == product) & (ship_periods == period))
        stock += base + made.get((product, period), 0) - racks[rows].sum()
        for row in rows:  # lowest unit value first
            if stock >= 0:
                break
            cut = min(racks[row], -stock)
            racks[row] -= cut
            stock += cut
    allocation["racks"] = racks
    allocation = _cut_third_parties(instance, allocation)
    accepted = allocation.groupby("customer")["racks"].sum().gt(0).astype(float)
    return make_plan(instance, allocation[["order", "ship_period", "racks"]], surplus, accepted)


def _cut_third_parties(instance: Instance, allocation: pd.DataFrame) -> pd.DataFrame:
    """Drop third parties below their minimum contract; cut the lowest-value third-party
    racks while the share cap is exceeded (rows sorted by unit value)."""
    min_contract = instance.customers.set_index("customer")["min_contract_racks"]
    share = instance.policy.third_party_max_share
    racks = allocation["racks"].to_numpy().copy()
    is_third_party = (allocation["segment"] == "third_party").to_numpy()
    customers = allocation["customer"].to_numpy()
    while True:
        shipped = pd.Series(racks, index=customers).groupby(level=0).sum()
        below = [str(c) for c, total in shipped.items() if 0 < total < min_contract.get(c, 0)]
        racks[np.isin(customers, below)] = 0
        excess = racks[is_third_party].sum() - share * racks.sum()
        if excess <= 1e-9:
            break
        row = np.flatnonzero(is_third_party & (racks > 0))[0]
        # cutting r third-party racks lowers the excess by r * (1 - share)
        racks[row] -= min(racks[row], int(np.ceil(excess / (1.0 - share) - 1e-9)))
    allocation = allocation.copy()
    allocation["racks"] = racks
    return allocation


def shipped_by_customer(instance: Instance, plan: Plan) -> pd.Series:
    return (
        plan.allocation.groupby("customer")["racks"]
        .sum()
        .reindex(instance.customers["customer"], fill_value=0)
    )


def committed_racks(instance: Instance) -> pd.Series:
    """min_fill[c] * sum of c's ordered racks, per customer (0 for third parties)."""
    customers = instance.customers.set_index("customer")
    ordered = (
        instance.orders.groupby("customer")["racks"].sum().reindex(customers.index, fill_value=0)
    )
    committed = customers["min_fill"] * ordered
    return committed.where(customers["segment"] == "internal", 0.0)


def shortfall_racks(instance: Instance, plan: Plan) -> pd.Series:
    """u[c] = max(0, committed[c] - shipped[c]) for internal customers (0 for others)."""
    return (committed_racks(instance) - shipped_by_customer(instance, plan)).clip(lower=0)


def stock_table(instance: Instance, plan: Plan) -> pd.DataFrame:
    """Per product and period: base, surplus and shipped racks and the end-of-period stock
    v[p,t] = v[p,t-1] + base + surplus - shipped, v[p,0] = initial_inventory."""
    stock = instance.supply[["product", "period", "base_racks"]].rename(
        columns={"base_racks": "base"}
    )
    keys = ["product", "period"]
    surplus = plan.surplus.groupby(keys)["racks"].sum().rename("surplus")
    shipped = (
        plan.allocation.groupby(["product", "ship_period"])["racks"]
        .sum()
        .rename_axis(keys)
        .rename("shipped")
    )
    stock = stock.join(surplus, on=keys).join(shipped, on=keys).fillna({"surplus": 0, "shipped": 0})
    initial = stock["product"].map(instance.products.set_index("product")["initial_inventory"])
    flow = stock["base"] + stock["surplus"] - stock["shipped"]
    stock["stock"] = flow.groupby(stock["product"]).cumsum() + initial
    return stock.reset_index(drop=True)


def customer_table(instance: Instance, plan: Plan) -> pd.DataFrame:
    """Per customer: requested, allocated, fill rate, waiting list, shortfall, deal."""
    customers = instance.customers.set_index("customer")
    requested = (
        instance.orders.groupby("customer")["racks"].sum().reindex(customers.index, fill_value=0)
    )
    allocated = shipped_by_customer(instance, plan)
    table = pd.DataFrame(
        {
            "customer": customers.index,
            "segment": customers["segment"].to_numpy(),
            "region": customers["region"].to_numpy(),
            "requested": requested.to_numpy(),
            "allocated": allocated.to_numpy(),
        }
    )
    table["fill_rate"] = np.where(
        table["requested"] > 0, table["allocated"] / table["requested"].clip(lower=1e-12), 1.0
    )
    table["waiting_list_racks"] = table["requested"] - table["allocated"]
    table["min_fill"] = customers["min_fill"].to_numpy()
    table["shortfall_racks"] = shortfall_racks(instance, plan).to_numpy()
    accepted = plan.deal_accepted.reindex(customers.index)
    table["deal_accepted"] = accepted.to_numpy()
    return table


def objective_terms(instance: Instance, plan: Plan) -> dict[str, float]:
    """Each term of SPEC's objective, recomputed from the plan; costs are negative, so
    the objective is the sum of the values."""
    allocation = plan.allocation
    orders = instance.orders.set_index("order")
    racks = allocation["racks"].astype(float)
    terms: dict[str, float] = {}
    price = allocation["order"].map(orders["price_per_rack"])
    for segment in ("internal", "third_party"):
        in_segment = allocation["segment"] == segment
        terms[f"rack_revenue_{segment}"] = float((price * racks)[in_segment].sum())
    margins = (
        allocation[["customer", "product", "racks"]]
        .merge(instance.attach, on="customer")
        .merge(instance.services, on=["service", "product"])
    )
    margins["value"] = margins["racks"] * margins["attach_rate"] * margins["margin_per_rack"]
    by_service = margins.groupby("service")["value"].sum()
    for service in dict.fromkeys(instance.services["service"]):
        terms[f"service_margin_{service}"] = float(by_service.get(service, 0.0))
    late = allocation["ship_period"] - allocation["period"]
    delay_penalty = allocation["order"].map(orders["delay_penalty"])
    terms["delay_cost"] = -float((delay_penalty * late * racks).sum())
    surplus_cost = plan.surplus.merge(instance.supply, on=["product", "period"])
    terms["surplus_cost"] = -float((surplus_cost["racks"] * surplus_cost["surplus_cost"]).sum())
    stock = stock_table(instance, plan)
    holding = stock["product"].map(instance.products.set_index("product")["holding_cost"])
    terms["holding_cost"] = -float((holding * stock["stock"]).sum())
    onboarding = instance.customers.set_index("customer")["onboarding_cost"]
    terms["onboarding_cost"] = -float(
        (plan.deal_accepted * onboarding.reindex(plan.deal_accepted.index)).sum()
    )
    shortfall = shortfall_racks(instance, plan)
    terms["shortfall_penalty"] = -float(
        instance.policy.internal_shortfall_penalty * shortfall.sum()
    )
    return terms


def check_plan(
    instance: Instance,
    plan: Plan,
    *,
    strict: bool = False,
    integral: bool = True,
    tolerance: float = 1e-6,
) -> list[str]:
    """Every SPEC.md constraint re-checked on the plan's rows; the violations found."""
    violations: list[str] = []
    allocation = plan.allocation
    orders = instance.orders.set_index("order")
    products = instance.products.set_index("product")
    scale = 1.0 + tolerance

    def flag(bad: pd.Series, message: str, labels: pd.Series) -> None:
        violations.extend(f"{message}: {label}" for label in labels[bad.to_numpy()])

    if integral:
        for name, values in (
            ("racks", allocation["racks"]),
            ("surplus racks", plan.surplus["racks"]),
            ("deal accepted", plan.deal_accepted),
        ):
            fractional = (values - values.round()).abs() > tolerance
            flag(fractional, f"fractional {name}", pd.Series(values.index.astype(str)))
    window_first = allocation["order"].map(orders["first_ship"])
    window_last = allocation["order"].map(orders["last_ship"])
    outside = (allocation["ship_period"] < window_first) | (allocation["ship_period"] > window_last)
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
    flag(surplus["period"] < available_from, "surplus before available_from", surplus["product"])
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
