"""The generation view of a plan with substitutes: racks by ordered and shipped product.

`generation_flows` counts racks per ship month and (ordered product, shipped product)
pair; `substitute_orders` lists each order that shipped racks of another product than it
named (who waits for Trainium4, who takes Trainium now), with its months. Both read
allocation.csv alone, and are empty for a plan without an ``ordered_product`` column
(an instance without substitutes.csv). The report and plan.xlsx show them.
Never imports Pyomo.
"""

from __future__ import annotations

import pandas as pd

FLOW_COLUMNS = ["ship_period", "ordered_product", "product", "racks"]
ORDER_COLUMNS = [
    "customer",
    "order",
    "ordered_product",
    "product",
    "period",
    "first_ship_period",
    "last_ship_period",
    "racks",
]


def has_substitutes(allocation: pd.DataFrame | None) -> bool:
    """Whether the plan came from an instance with substitutes.csv."""
    return allocation is not None and "ordered_product" in allocation.columns


def generation_flows(allocation: pd.DataFrame | None) -> pd.DataFrame:
    """Racks per ship month and (ordered product, shipped product), zero rows left out."""
    if not has_substitutes(allocation):
        return pd.DataFrame(columns=FLOW_COLUMNS)
    assert allocation is not None
    shipped = allocation[allocation["racks"] > 0]
    flows = shipped.groupby(
        ["ship_period", "ordered_product", "product"], as_index=False, sort=True
    ).agg(racks=("racks", "sum"))
    return flows[FLOW_COLUMNS].reset_index(drop=True)


def substitute_orders(allocation: pd.DataFrame | None) -> pd.DataFrame:
    """Each order's racks of a product other than its own: first and last ship month."""
    if not has_substitutes(allocation):
        return pd.DataFrame(columns=ORDER_COLUMNS)
    assert allocation is not None
    rows = allocation[
        (allocation["racks"] > 0) & (allocation["product"] != allocation["ordered_product"])
    ]
    grouped = rows.groupby(
        ["customer", "order", "ordered_product", "product", "period"], as_index=False, sort=True
    ).agg(
        first_ship_period=("ship_period", "min"),
        last_ship_period=("ship_period", "max"),
        racks=("racks", "sum"),
    )
    return grouped[ORDER_COLUMNS].reset_index(drop=True)


def flow_label(ordered: str, shipped: str) -> str:
    """``trainium as ordered``, or ``trainium4 for a trainium order`` (a substitute)."""
    return f"{ordered} as ordered" if ordered == shipped else f"{shipped} for a {ordered} order"
