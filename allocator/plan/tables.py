"""A plan as tidy tables: its summaries (customers, stock) and its objective terms.

Nothing here knows the model: stock, shortfall and every objective term are recomputed
from the plan's own rows (shipments, surplus racks, deals accepted) and the instance, so
`allocator.plan.check` re-checks the contract independently of Pyomo and HiGHS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocator.data.instance import Instance

ALLOCATION_COLUMNS = ["order", "customer", "segment", "product", "period", "ship_period", "racks"]
SUBSTITUTE_COLUMN = "ordered_product"
"""With substitutes.csv, allocation.csv's ``product`` is the product shipped and this
column the order's own."""
SURPLUS_COLUMNS = ["product", "period", "racks"]


def allocation_columns(instance: Instance) -> list[str]:
    """allocation.csv's columns: `ALLOCATION_COLUMNS`, and ``ordered_product`` when the
    instance has substitutes (without them the file is exactly as before)."""
    return (
        [*ALLOCATION_COLUMNS, SUBSTITUTE_COLUMN] if instance.has_substitutes else ALLOCATION_COLUMNS
    )


@dataclass(frozen=True)
class Plan:
    """What the optimizer decides.

    ``allocation``: `allocation_columns`, rows with racks > 0 (``period`` is the
    requested period, ``ship_period`` when it ships, ``product`` the product shipped).
    ``surplus``: SURPLUS_COLUMNS,
    rows with racks > 0. ``deal_accepted``: y[c] per third-party customer (0/1 for a
    MIP plan, in [0, 1] for the LP relaxation).
    """

    allocation: pd.DataFrame
    surplus: pd.DataFrame
    deal_accepted: pd.Series


def make_plan(
    instance: Instance, ship: pd.DataFrame, surplus: pd.DataFrame, deal_accepted: pd.Series
) -> Plan:
    """Complete ``ship`` (order, ship_period, racks, and the ``product`` shipped where it
    is not the order's own) and ``surplus`` (product, period, racks) into a `Plan`,
    dropping rows with no racks."""
    orders = instance.orders.set_index("order")
    ship = ship.loc[ship["racks"] > 0].copy()
    ordered = ship["order"].map(orders["product"])
    if "product" not in ship.columns:
        ship["product"] = ordered
    ship[SUBSTITUTE_COLUMN] = ordered
    for column in ("customer", "segment", "period"):
        ship[column] = ship["order"].map(orders[column])
    allocation = (
        ship[allocation_columns(instance)]
        .sort_values(["order", "ship_period", "product"])
        .reset_index(drop=True)
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
            **(
                {"priority": customers["priority"].to_numpy()}
                if instance.policy.is_lexicographic
                else {}
            ),
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
    if instance.has_substitutes:  # racks that came as another product than ordered
        allocation = plan.allocation
        substituted = allocation[allocation["product"] != allocation[SUBSTITUTE_COLUMN]]
        by_customer = substituted.groupby("customer")["racks"].sum()
        table["substitute_racks"] = by_customer.reindex(customers.index, fill_value=0).to_numpy()
    return table


def objective_terms(instance: Instance, plan: Plan) -> dict[str, float]:
    """Each term of the contract's objective, recomputed from the plan; costs are negative, so
    the objective is the sum of the values."""
    allocation = plan.allocation
    orders = instance.orders.set_index("order")
    racks = allocation["racks"].astype(float)
    terms: dict[str, float] = {}
    price = allocation["order"].map(orders["price_per_rack"])
    if SUBSTITUTE_COLUMN in allocation.columns:  # a substitute's rack at its own price
        substituted = (allocation["product"] != allocation[SUBSTITUTE_COLUMN]).to_numpy()
        prices = instance.substitutes.set_index(["order", "product"])["price_per_rack"]
        keys = pd.MultiIndex.from_arrays([allocation["order"], allocation["product"]])
        price = price.where(~substituted, prices.reindex(keys).to_numpy())
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
