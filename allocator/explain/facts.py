"""The facts the why_short checks share, gathered once per plan as arrays.

Per product and period: what can exist, what is in stock and whether more surplus can be
made (the period table); per short order: its window's closest call against the marginal
value of supply, the cheapest extra surplus rack and the region row that blocks it (the
``orders`` table); per customer: the positions of its short orders, its contract and deal
(`ShortageFacts`, which the reasons read).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.formats import format_money

SHORT_TOLERANCE = 1e-6
"""Racks below this are not a waiting list (LP relaxation plans are fractional)."""


class ShortageFacts:
    """What the checks share, computed once with whole-table operations: per product and
    period what can exist, what is in stock and whether more surplus can be made; per
    short order its window's closest call against the marginal value of supply and the
    region row that blocks it; per customer the positions of its short orders in
    ``orders``, so the per-customer checks only index arrays."""

    def __init__(
        self,
        instance: Instance,
        allocation: pd.DataFrame,
        surplus: pd.DataFrame,
        customers: pd.DataFrame,
        marginal_values: pd.DataFrame | None,
    ) -> None:
        self.instance = instance
        self.labels = instance.period_labels
        self.customers = customers.set_index("customer")
        contracts = instance.customers.set_index("customer")
        self.min_contract = _floats(contracts["min_contract_racks"])
        self.onboarding = _floats(contracts["onboarding_cost"])
        self.waiting_racks = _floats(self.customers["waiting_list_racks"])
        self.accepted = _floats(self.customers["deal_accepted"])
        self.available_from = _floats(instance.products.set_index("product")["available_from"])
        self.segments = {str(c): segment for c, segment in self.customers["segment"].items()}
        self.allocation = allocation
        self.shipped_racks = float(allocation["racks"].sum())
        third_party = allocation["segment"] == "third_party"
        self.third_party_racks = float(allocation.loc[third_party, "racks"].sum())
        self.has_duals = marginal_values is not None
        base_dual, power_dual = _duals(marginal_values)
        periods = _period_table(instance, allocation, surplus, base_dual)
        self.periods = periods
        """Per (product, period): potential, stock, shipped_by, room_by, extra_cost, dual."""
        orders = _short_orders(instance, allocation, self.customers)
        orders = _add_window(orders, instance, periods)
        orders = _add_own_shipments(orders, instance, allocation)
        self.region_power = _region_power_rows(instance, allocation, power_dual)
        """Per region, its regions.csv rows with the kW the plan delivers by each."""
        self.orders = _add_power_block(orders, instance, self.region_power)
        self.columns = {name: self.orders[name].to_numpy() for name in self.orders.columns}
        self.by_customer = {str(c): rows for c, rows in _positions(self.orders, "customer")}
        self.suppliable = _suppliable_racks(self.orders)

    def short_customers(self) -> list[str]:
        waiting = self.customers["waiting_list_racks"]
        return [str(c) for c in waiting.index[waiting > SHORT_TOLERANCE]]

    def orders_of(self, customer: str) -> np.ndarray:
        """The positions in ``orders`` of the customer's short orders, in table order."""
        return self.by_customer.get(customer, np.empty(0, dtype=np.intp))

    def order(self, row: int) -> dict[str, Any]:
        """The facts of the short order at position ``row`` of ``orders``."""
        return {name: values[row] for name, values in self.columns.items()}

    def rows_by_customer(self, holds: np.ndarray) -> dict[str, np.ndarray]:
        """Per customer, the positions among its short orders where ``holds`` (one flag
        per row of ``orders``) is true (only customers with at least one)."""
        found = {customer: rows[holds[rows]] for customer, rows in self.by_customer.items()}
        return {customer: rows for customer, rows in found.items() if len(rows)}

    def values(self, column: str, rows: np.ndarray) -> np.ndarray:
        """Column ``column`` of ``orders`` at the positions ``rows``."""
        return self.columns[column][rows]

    def short_racks(self, rows: np.ndarray) -> float:
        """The unserved racks of the short orders at ``rows``."""
        return float(self.values("short", rows).sum())

    def min_contract_racks(self, customer: str) -> float:
        return self.min_contract[customer]

    def onboarding_cost(self, customer: str) -> float:
        return self.onboarding[customer]

    def waiting(self, customer: str) -> float:
        return self.waiting_racks[customer]

    def is_rejected(self, customer: str) -> bool:
        accepted = self.accepted[customer]
        return not accepted >= 0.5  # NaN (no deal row) counts as rejected

    def money(self, value: float) -> str:
        return format_money(value, self.instance.settings.currency)

    def label(self, period: int) -> str:
        return self.labels.get(int(period), f"P{int(period)}")


def _floats(column: pd.Series) -> dict[str, float]:
    return {str(key): float(value) for key, value in column.astype(float).items()}


def _positions(frame: pd.DataFrame, keys: str | list[str]) -> list[tuple[Any, np.ndarray]]:
    """Per group of ``frame`` by ``keys`` (rows with a missing key left out), the
    positions of its rows, in table order."""
    groups = frame.groupby(keys).indices
    return [(key, np.asarray(rows, dtype=np.intp)) for key, rows in groups.items()]


def value_tolerance(values: pd.Series) -> pd.Series:
    """How far apart two money values per rack may be and still count as equal."""
    return 1e-6 + 1e-9 * values.abs()


def _duals(
    marginal_values: pd.DataFrame | None,
) -> tuple[pd.Series, pd.DataFrame]:
    """The base_racks duals by (product, period), and the region_power rows' duals."""
    if marginal_values is None:
        empty = pd.MultiIndex.from_arrays([[], []], names=["product", "period"])
        return pd.Series(dtype=float, index=empty), pd.DataFrame(
            columns=["region", "period", "dual"]
        )
    values = marginal_values.astype({"item": str, "period": "int64", "value": float})
    base = values[values["resource"] == "base_racks"]
    base_dual = pd.Series(
        base["value"].to_numpy(),
        index=pd.MultiIndex.from_arrays([base["item"], base["period"]]),
    )
    power = values[values["resource"] == "region_power"]
    power_dual = pd.DataFrame(
        {"region": power["item"], "period": power["period"], "dual": power["value"]}
    )
    return base_dual, power_dual


def _period_table(
    instance: Instance, allocation: pd.DataFrame, surplus: pd.DataFrame, base_dual: pd.Series
) -> pd.DataFrame:
    """Per (product, period): ``potential`` racks that can be made or held by its end
    (initial stock + base racks + the surplus the foundry's wafers allow), ``shipped_by``
    (racks shipped up to it), ``stock`` at its end, ``room_by`` (more surplus could have
    been made in some period up to it), ``extra_cost`` (the cheapest such extra rack:
    surplus cost plus holding until then) and ``dual`` (the base_racks marginal value)."""
    products = instance.products.set_index("product")
    grid = instance.supply.sort_values(["product", "period"], kind="stable").reset_index(drop=True)
    keys = pd.MultiIndex.from_arrays([grid["product"], grid["period"]])
    product = grid["product"]
    made = surplus.groupby(["product", "period"])["racks"].sum().reindex(keys, fill_value=0.0)
    shipped = allocation.groupby(["product", "ship_period"])["racks"].sum()
    shipped = shipped.reindex(keys, fill_value=0.0)
    initial = product.map(products["initial_inventory"]).astype(float)
    per_rack = product.map(products["wafers_per_rack"]).astype(float)
    wafers = grid["period"].map(instance.surplus_wafers).astype(float)
    wafer_racks = (wafers / per_rack.where(per_rack > 0) + 1e-9).apply(np.floor)
    surplus_cap = grid["surplus_max_racks"].clip(upper=wafer_racks.fillna(np.inf))
    can_make = grid["period"] >= product.map(products["available_from"])
    surplus_cap = surplus_cap.where(can_make, 0.0)
    base = grid["base_racks"].astype(float)
    table = pd.DataFrame(index=keys)
    table["potential"] = ((base + surplus_cap).groupby(product).cumsum() + initial).to_numpy()
    flow = base + made.to_numpy() - shipped.to_numpy()
    table["stock"] = (flow.groupby(product).cumsum() + initial).to_numpy()
    table["shipped_by"] = shipped.groupby(level=0).cumsum().to_numpy()
    used_wafers = (per_rack * made.to_numpy()).groupby(grid["period"]).sum()
    wafer_slack = wafers - grid["period"].map(used_wafers)
    room = (
        can_make
        & (made.to_numpy() < grid["surplus_max_racks"] - SHORT_TOLERANCE)
        & ((per_rack <= 0) | (wafer_slack >= per_rack - 1e-9))
    )
    table["room_by"] = room.groupby(product).cummax().to_numpy()
    holding = product.map(products["holding_cost"]).astype(float)
    cost = grid["surplus_cost"].astype(float).where(room, np.inf)
    table["extra_cost"] = _running_cheapest(cost, holding, product)
    table["dual"] = base_dual.reindex(keys).fillna(0.0).to_numpy()
    return table


def _running_cheapest(cost: pd.Series, holding: pd.Series, product: pd.Series) -> np.ndarray:
    """Per row, the cheapest rack made in this or an earlier period of the same product
    and held until this one: best[t] = min(cost[t], best[t-1] + holding)."""
    best = np.empty(len(cost))
    previous_product, running = None, np.inf
    for row, (price, hold, name) in enumerate(zip(cost, holding, product, strict=True)):
        if name != previous_product:
            previous_product, running = name, np.inf
        running = min(float(price), running + float(hold))
        best[row] = running
    return best


ORDER_COLUMNS = [
    "order",
    "customer",
    "product",
    "region",
    "period",
    "racks",
    "price_per_rack",
    "margin_per_rack",
    "delay_penalty",
    "first_ship",
    "last_ship",
    "shipped",
    "short",
]


def _short_orders(
    instance: Instance, allocation: pd.DataFrame, customers: pd.DataFrame
) -> pd.DataFrame:
    """Orders with unserved racks: ``short`` racks, and ``penalty_racks``: how much of the
    shortfall penalty one more rack saves, min(1, its internal customer's shortfall) (a
    plan 0.04 racks short of the committed fill saves 0.04 of the penalty with a rack)."""
    orders = instance.orders.copy()
    shipped = allocation.groupby("order")["racks"].sum()
    orders["shipped"] = orders["order"].map(shipped).fillna(0.0)
    orders["short"] = orders["racks"] - orders["shipped"]
    orders = orders.loc[orders["short"] > SHORT_TOLERANCE, ORDER_COLUMNS].reset_index(drop=True)
    shortfall = orders["customer"].map(customers["shortfall_racks"]).fillna(0.0)
    shortfall = shortfall.astype(float)
    orders["penalty_racks"] = shortfall.where(shortfall > SHORT_TOLERANCE, 0.0).clip(upper=1.0)
    orders["window_length"] = (orders["last_ship"] - orders["first_ship"] + 1).clip(lower=0)
    return orders


def _add_window(orders: pd.DataFrame, instance: Instance, periods: pd.DataFrame) -> pd.DataFrame:
    """Per order, from the periods of its window: ``supply_by_last`` and ``shipped_by_last``
    (racks of its product that can exist / are shipped by ``last_ship``), the flags
    ``no_supply``, ``used_up`` and ``surplus_dear``, the closest call against the marginal
    value (``gap`` = unit value - marginal value, at its largest; ``gap_period``,
    ``gap_dual``, ``gap_value``; NaN when no rack can exist in the window) and the
    cheapest surplus rack against its value (``dear_period``, ``dear_cost``,
    ``dear_value``)."""
    last = orders["last_ship"].clip(lower=1, upper=instance.periods)
    at_last = periods.reindex(pd.MultiIndex.from_arrays([orders["product"], last]))
    orders["supply_by_last"] = at_last["potential"].to_numpy()
    orders["shipped_by_last"] = at_last["shipped_by"].to_numpy()
    window = _window_rows(orders, instance, periods)
    exists = window[window["potential"] > SHORT_TOLERANCE]
    best = exists.loc[exists.groupby("row")["gap"].idxmax()].set_index("row")
    for column in ("gap", "period", "dual", "value"):
        target = column if column == "gap" else f"gap_{column}"
        orders[target] = best[column]
    by_order = window.groupby("row")
    idle = by_order["stock"].max().reindex(orders.index).fillna(0.0) > SHORT_TOLERANCE
    room = by_order["room_by"].any().reindex(orders.index, fill_value=False)
    margin = window["extra_cost"] - window["value"]
    dear = (margin >= -value_tolerance(window["value"])).groupby(window["row"]).all()
    cheapest = window.loc[margin.groupby(window["row"]).idxmin()].set_index("row")
    orders["dear_period"] = cheapest["period"]
    orders["dear_cost"] = cheapest["extra_cost"]
    orders["dear_value"] = cheapest["value"]
    orders["no_supply"] = (orders["window_length"] == 0) | (
        orders["supply_by_last"] <= SHORT_TOLERANCE
    )
    orders["used_up"] = ~idle & ~room & ~orders["no_supply"]
    orders["surplus_dear"] = ~idle & room & dear.reindex(orders.index, fill_value=False)
    return orders


def _window_rows(orders: pd.DataFrame, instance: Instance, periods: pd.DataFrame) -> pd.DataFrame:
    """One row per (short order, period of its window) with that period's facts and the
    order's unit value there."""
    needed = ["order", "product", "first_ship", "penalty_racks", "window_length"]
    served = orders.loc[orders["window_length"] > 0, needed]
    rows = served.loc[served.index.repeat(served["window_length"])]
    period = rows["first_ship"] + rows.groupby(level=0).cumcount()
    facts = periods.reindex(pd.MultiIndex.from_arrays([rows["product"], period]))
    penalty = float(instance.policy.internal_shortfall_penalty)
    rack_value = instance.rack_value(instance.order_rows(rows["order"]), period.to_numpy())
    value = pd.Series(rack_value, index=rows.index) + penalty * rows["penalty_racks"]
    window = pd.DataFrame(
        {
            "row": rows.index,
            "period": period.to_numpy(),
            "value": value.to_numpy(dtype=float),
        }
    )
    for column in ("potential", "stock", "room_by", "extra_cost", "dual"):
        window[column] = facts[column].to_numpy()
    window["gap"] = window["value"] - window["dual"]
    return window


def _add_own_shipments(
    orders: pd.DataFrame, instance: Instance, allocation: pd.DataFrame
) -> pd.DataFrame:
    """``own_by_last``: racks of the order's product its customer got by ``last_ship``."""
    periods = range(1, instance.periods + 1)
    shipped = allocation.pivot_table(
        index=["customer", "product"], columns="ship_period", values="racks", aggfunc="sum"
    )
    by_then = shipped.reindex(columns=periods).fillna(0.0).cumsum(axis=1).to_numpy()
    keys = pd.MultiIndex.from_arrays([orders["customer"], orders["product"]])
    rows = shipped.index.get_indexer(keys) if len(shipped) else np.full(len(orders), -1)
    last = orders["last_ship"].clip(lower=1, upper=instance.periods).to_numpy() - 1
    own = np.zeros(len(orders))
    found = rows >= 0
    own[found] = by_then[rows[found], last[found]]
    orders["own_by_last"] = own
    return orders


def _add_power_block(
    orders: pd.DataFrame, instance: Instance, power: dict[str, RegionRows]
) -> pd.DataFrame:
    """The earliest ``regions.csv`` row of its region at or after ``last_ship`` with less
    slack than one rack of its product draws: it blocks every period of the window
    (power is cumulative). ``block_period``, ``block_used_kw``, ``block_limit_kw``,
    ``power_value``: the summed region_power duals of the rows from first_ship on (what
    one more kW there is worth to a rack shipped in its first window period)."""
    block = {
        column: np.full(len(orders), np.nan)
        for column in ("block_period", "block_used_kw", "block_limit_kw", "power_value")
    }
    rack_kw = orders["product"].map(instance.products.set_index("product")["power_kw"])
    first, last = orders["first_ship"].to_numpy(), orders["last_ship"].to_numpy()
    served = pd.DataFrame({"region": orders["region"], "kw": rack_kw})
    served = served[orders["window_length"] > 0]
    for (region, kw_value), at_rows in _positions(served, ["region", "kw"]):
        kw = float(kw_value)
        rows = power.get(str(region))
        if not kw > 0 or rows is None:  # NaN kW (no such product) never blocks
            continue
        full = np.flatnonzero((rows.limit_kw - rows.used_kw) < kw - 1e-9)
        group = served.index.to_numpy()[at_rows]
        at = np.searchsorted(rows.period[full], last[group])
        blocked = at < len(full)
        hits, picked = group[blocked], full[at[blocked]]
        block["block_period"][hits] = rows.period[picked]
        block["block_used_kw"][hits] = rows.used_kw[picked]
        block["block_limit_kw"][hits] = rows.limit_kw[picked]
        if rows.dual_from is not None:
            block["power_value"][hits] = rows.dual_from[np.searchsorted(rows.period, first[hits])]
    for column, values in block.items():
        orders[column] = values
    orders["rack_kw"] = rack_kw
    return orders


class RegionRows(NamedTuple):
    """A region's ``regions.csv`` rows by period: the limit, the kW the plan delivers to
    it by then and (with duals) the region_power duals summed from each row on, with a
    trailing 0 for "after the last row"."""

    period: np.ndarray
    limit_kw: np.ndarray
    used_kw: np.ndarray
    dual_from: np.ndarray | None


def _region_power_rows(
    instance: Instance, allocation: pd.DataFrame, power_dual: pd.DataFrame
) -> dict[str, RegionRows]:
    """Every region's regions.csv rows with the kW the plan delivers to it by each."""
    power_kw = instance.products.set_index("product")["power_kw"]
    region_of = instance.orders.set_index("order")["region"]
    shipped = pd.DataFrame(
        {
            "region": allocation["order"].map(region_of),
            "period": allocation["ship_period"],
            "kw": allocation["racks"] * allocation["product"].map(power_kw),
        }
    )
    shipped_period = shipped["period"].to_numpy()
    shipped_kw = shipped["kw"].to_numpy(dtype=float)
    shipments = dict(_positions(shipped, "region"))
    regions = instance.regions.sort_values(["region", "period"], kind="stable")
    regions = regions.reset_index(drop=True)
    dual = None
    if len(power_dual):
        duals = power_dual.set_index(["region", "period"])["dual"]
        keys = pd.MultiIndex.from_arrays([regions["region"], regions["period"]])
        dual = duals.reindex(keys).fillna(0.0).to_numpy()
    period = regions["period"].to_numpy()
    limit_kw = regions["power_kw"].to_numpy(dtype=float)
    power = {}
    for region, rows in _positions(regions, "region"):
        mine = shipments.get(region, np.empty(0, dtype=np.intp))
        # by period, equal periods as sort_values("period") leaves them (a quicksort, not
        # stable), which fixes the order of the running sums
        mine = mine[shipped_period[mine].argsort(kind="quicksort")]
        by_then = np.concatenate([[0.0], np.cumsum(shipped_kw[mine])])
        at = np.searchsorted(shipped_period[mine], period[rows], side="right")
        dual_from = None
        if dual is not None:
            dual_from = np.append(np.cumsum(dual[rows][::-1])[::-1], 0.0)
        power[str(region)] = RegionRows(period[rows], limit_kw[rows], by_then[at], dual_from)
    return power


def _suppliable_racks(orders: pd.DataFrame) -> dict[str, float]:
    """Per customer, the most racks its short orders could get: per product, their racks
    capped by what can be made or held by the latest end of their windows."""
    served = orders.loc[
        orders["window_length"] > 0, ["customer", "product", "short", "supply_by_last"]
    ]
    by_product = served.groupby(["customer", "product"]).agg(
        racks=("short", "sum"), supply=("supply_by_last", "max")
    )
    capped = by_product["racks"].clip(upper=by_product["supply"])
    return _floats(capped.groupby(level=0).sum())
