"""Why a customer is short: reasons derived from the instance, the plan and the marginal
values, each with the number that makes it true. Never imports Pyomo.

Works on tables only (the plan's ``allocation`` and ``surplus`` rows, the per-customer
table and ``marginal_values.csv``), so the same code runs right after a solve and on a
result folder read back from disk. Unit value of order o shipped in t: pi + m - k * (t - r),
plus the shortfall penalty while its internal customer is below its committed fill. The
marginal value of supply is the ``base_racks`` dual (the LP relaxation's for a MIP). For
every order with unserved racks, in this order:

``no_supply``
    no supply in its delivery window: nothing of its product can be made or held by the
    end of its ship window W(o) (initial stock + base racks + the surplus the foundry's
    wafers allow), or the window is empty; or no supply left: in no period of W(o) is a
    rack left in stock, and no more surplus can be made by its end (surplus at its
    maximum or the foundry's wafers used up), so every rack that can exist is shipped.
``outbid``
    every rack in its window earns more elsewhere: in every t of W(o) by which a rack can
    exist, the marginal value of a rack of its product exceeds its unit value.
``surplus_cost``
    no rack is left in stock in its window, and the cheapest extra surplus rack (its
    ``surplus_cost`` plus holding until t) costs at least its unit value.
``next_in_line``
    partly served, and its unit value equals the marginal value: it is the order one more
    rack would go to.
``region_power``
    its region's power is full: for every t of W(o) a ``regions.csv`` row (g, t' >= t) has
    less slack than one rack of its product draws (the number: the region_power duals
    from its window on).

and per third-party customer:

``share_cap``
    the third-party share cap (constraint 6) leaves room for fewer racks than one more
    rack (its minimum deal when the deal was rejected); the number is the slack.
``deal_not_worth``
    its deal was rejected and its minimum size cannot be supplied in its windows, or the
    most a deal of at least its minimum size could earn over the marginal value of the
    supply it takes is no more than its onboarding cost.

A short customer none of these explain gets ``integrality``: its racks are worth more
than their supply at the LP margin and nothing binds, so the whole-rack, all-or-nothing
integer plan is what leaves it short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.formats import format_money, format_racks, racks_text

SHORT_TOLERANCE = 1e-6
"""Racks below this are not a waiting list (LP relaxation plans are fractional)."""

REASON_ORDER = (
    "no_supply",
    "outbid",
    "surplus_cost",
    "next_in_line",
    "region_power",
    "share_cap",
    "deal_not_worth",
    "integrality",
)


@dataclass(frozen=True)
class Reason:
    """One reason a customer is short. ``figure`` is the number the reason rests on
    (a marginal value, a slack, a cost), ``racks`` the unserved racks it covers."""

    code: str
    text: str
    figure: float
    racks: float


def why_short(
    instance: Instance,
    allocation: pd.DataFrame,
    surplus: pd.DataFrame,
    customers: pd.DataFrame,
    marginal_values: pd.DataFrame | None,
) -> dict[str, list[Reason]]:
    """The reasons of every customer with a waiting list, in `REASON_ORDER`.

    ``allocation`` and ``surplus``: the plan's rows (allocation.csv, surplus.csv);
    ``customers``: the per-customer table (``customer``, ``segment``,
    ``waiting_list_racks``, ``shortfall_racks``, ``deal_accepted``); ``marginal_values``:
    ``marginal_values.csv``, or None (then the reasons that need a dual are not checked).
    """
    facts = _Facts(instance, allocation, surplus, customers, marginal_values)
    reasons: dict[str, list[Reason]] = {}
    for customer in facts.short_customers():
        found = _order_reasons(facts, customer)
        found += _customer_reasons(facts, customer)
        if not found:
            found.append(_unexplained(facts, customer))
        found.sort(key=lambda reason: REASON_ORDER.index(reason.code))
        reasons[customer] = found
    return reasons


def why_short_column(
    instance: Instance,
    allocation: pd.DataFrame,
    surplus: pd.DataFrame,
    customers: pd.DataFrame,
    marginal_values: pd.DataFrame | None,
) -> pd.Series:
    """`why_short` as text per row of ``customers`` ("" for a customer not short)."""
    reasons = why_short(instance, allocation, surplus, customers, marginal_values)
    texts = [
        "; ".join(reason.text for reason in reasons.get(customer, []))
        for customer in customers["customer"]
    ]
    return pd.Series(texts, index=customers.index, name="why_short", dtype=object)


class _Facts:
    """What the checks share, computed once with whole-table operations: per product and
    period what can exist, what is in stock and whether more surplus can be made; per
    short order its window's closest call against the marginal value of supply and the
    region row that blocks it; per customer the positions of its short orders in
    ``orders`` (all of them, and those each order-level finding holds for), so the
    per-customer checks only index arrays."""

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
        self.shipped_racks = float(allocation["racks"].sum())
        third_party = allocation["segment"] == "third_party"
        self.third_party_racks = float(allocation.loc[third_party, "racks"].sum())
        self.has_duals = marginal_values is not None
        base_dual, power_dual = _duals(marginal_values)
        periods = _period_table(instance, allocation, surplus, base_dual)
        orders = _short_orders(instance, allocation, self.customers)
        orders = _add_window(orders, instance, periods)
        orders = _add_own_shipments(orders, instance, allocation)
        self.orders = _add_power_block(orders, instance, allocation, power_dual)
        self.columns = {name: self.orders[name].to_numpy() for name in self.orders.columns}
        self.by_customer = {str(c): rows for c, rows in _positions(self.orders, "customer")}
        self.findings = {
            finding: _rows_by_customer(self.by_customer, holds.to_numpy(dtype=bool))
            for finding, holds in _classify(self.orders, self.has_duals).items()
        }
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


def _rows_by_customer(
    by_customer: dict[str, np.ndarray], holds: np.ndarray
) -> dict[str, np.ndarray]:
    """Per customer, the positions among its short orders where ``holds`` is true (only
    customers with at least one)."""
    found = {customer: rows[holds[rows]] for customer, rows in by_customer.items()}
    return {customer: rows for customer, rows in found.items() if len(rows)}


def _tolerance(values: pd.Series) -> pd.Series:
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
    """Orders with unserved racks: ``short`` racks, and ``below_fill`` when their internal
    customer is short of its committed fill (each rack then also saves the penalty)."""
    orders = instance.orders.copy()
    shipped = allocation.groupby("order")["racks"].sum()
    orders["shipped"] = orders["order"].map(shipped).fillna(0.0)
    orders["short"] = orders["racks"] - orders["shipped"]
    orders = orders.loc[orders["short"] > SHORT_TOLERANCE, ORDER_COLUMNS].reset_index(drop=True)
    shortfall = orders["customer"].map(customers["shortfall_racks"]).fillna(0.0)
    orders["below_fill"] = shortfall.astype(float) > SHORT_TOLERANCE
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
    dear = (margin >= -_tolerance(window["value"])).groupby(window["row"]).all()
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
    needed = ["product", "period", "first_ship", "price_per_rack", "margin_per_rack"]
    needed += ["delay_penalty", "below_fill", "window_length"]
    served = orders.loc[orders["window_length"] > 0, needed]
    rows = served.loc[served.index.repeat(served["window_length"])]
    period = rows["first_ship"] + rows.groupby(level=0).cumcount()
    facts = periods.reindex(pd.MultiIndex.from_arrays([rows["product"], period]))
    penalty = float(instance.policy.internal_shortfall_penalty)
    value = (
        rows["price_per_rack"]
        + rows["margin_per_rack"]
        - rows["delay_penalty"] * (period - rows["period"])
        + penalty * rows["below_fill"]
    )
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
    orders: pd.DataFrame, instance: Instance, allocation: pd.DataFrame, power_dual: pd.DataFrame
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
    power = _region_power_rows(instance, allocation, power_dual)
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


class _RegionRows(NamedTuple):
    """A region's ``regions.csv`` rows by period: the limit, the kW the plan delivers to
    it by then and (with duals) the region_power duals summed from each row on, with a
    trailing 0 for "after the last row"."""

    period: np.ndarray
    limit_kw: np.ndarray
    used_kw: np.ndarray
    dual_from: np.ndarray | None


def _region_power_rows(
    instance: Instance, allocation: pd.DataFrame, power_dual: pd.DataFrame
) -> dict[str, _RegionRows]:
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
        power[str(region)] = _RegionRows(period[rows], limit_kw[rows], by_then[at], dual_from)
    return power


# --- per order -----------------------------------------------------------------------


ORDER_REASONS = ("no_supply", "outbid", "used_up", "surplus_dear", "next_in_line", "blocked")
"""Order-level findings in the order they are reported."""


def _classify(orders: pd.DataFrame, has_duals: bool) -> dict[str, pd.Series]:
    """Which short orders each order-level reason holds for: ``no_supply``; else
    ``outbid`` (every rack strictly worth more elsewhere); else ``used_up``; else
    ``surplus_dear``; else ``next_in_line`` (partly served, unit value equal to the
    marginal value). ``blocked`` (region power) for any order with supply."""
    tolerance = _tolerance(orders["gap_value"].fillna(0.0))
    supplied = ~orders["no_supply"]
    outbid = supplied & has_duals & (orders["gap"] < -tolerance)
    rest = supplied & ~outbid
    used_up = rest & orders["used_up"]
    rest &= ~orders["used_up"]
    dear = rest & orders["surplus_dear"]
    rest &= ~orders["surplus_dear"]
    tie = rest & has_duals & (orders["gap"].abs() <= tolerance) & (orders["shipped"] > 0)
    return {
        "no_supply": orders["no_supply"],
        "outbid": outbid,
        "used_up": used_up,
        "surplus_dear": dear,
        "next_in_line": tie,
        "blocked": supplied & orders["block_period"].notna(),
    }


def _order_reasons(facts: _Facts, customer: str) -> list[Reason]:
    """The order-level reasons of a customer, each over the short orders it holds for."""
    builders = {
        "no_supply": _no_supply,
        "outbid": _outbid,
        "used_up": _used_up,
        "surplus_dear": _surplus_cost,
        "next_in_line": _next_in_line,
        "blocked": _region_power,
    }
    reasons = []
    for finding in ORDER_REASONS:
        rows = facts.findings[finding].get(customer)
        if rows is not None:
            reasons.append(builders[finding](facts, rows))
    return reasons


def _headline(text: str, facts: _Facts, rows: np.ndarray) -> str:
    return f"{text} ({racks_text(facts.short_racks(rows))}): "


def _no_supply(facts: _Facts, rows: np.ndarray) -> Reason:
    order = facts.order(rows[0])
    product, last = str(order["product"]), int(order["last_ship"])
    if order["window_length"] == 0:
        available = int(facts.available_from[product])
        detail = (
            f"{product} ships from {facts.label(available)}, after the window of "
            f"{order['order']} closes in {facts.label(last)}"
        )
    else:
        detail = f"0 racks of {product} can be made or held by {facts.label(last)}"
    text = _headline("no supply in its delivery window", facts, rows) + detail
    return Reason("no_supply", text, 0.0, facts.short_racks(rows))


def _used_up(facts: _Facts, rows: np.ndarray) -> Reason:
    order = facts.order(rows[0])
    detail = (
        f"no {order['product']} rack is left in stock in its window and no more surplus can "
        f"be made by {facts.label(order['last_ship'])}; "
        f"{format_racks(order['shipped_by_last'])} racks are shipped by then, "
        f"{format_racks(order['own_by_last'])} of them to it"
    )
    text = _headline("no supply left in its delivery window", facts, rows) + detail
    return Reason("no_supply", text, 0.0, facts.short_racks(rows))


def _outbid(facts: _Facts, rows: np.ndarray) -> Reason:
    """Reports the order that came closest to getting racks."""
    order = facts.order(_closest_call(facts, rows))
    detail = (
        f"one {order['product']} rack in {facts.label(order['gap_period'])} is worth "
        f"{facts.money(order['gap_dual'])} at the margin, {order['order']} earns "
        f"{facts.money(order['gap_value'])} per rack"
    )
    text = _headline("every rack in its window earns more elsewhere", facts, rows) + detail
    return Reason("outbid", text, float(order["gap_dual"]), facts.short_racks(rows))


def _closest_call(facts: _Facts, rows: np.ndarray) -> int:
    """The order whose unit value came nearest to (or furthest above) its supply's."""
    return int(rows[np.argmax(facts.values("gap", rows))])


def _surplus_cost(facts: _Facts, rows: np.ndarray) -> Reason:
    margin = facts.values("dear_value", rows) - facts.values("dear_cost", rows)
    order = facts.order(rows[np.argmax(margin)])
    detail = (
        f"no {order['product']} rack is left in stock in its window, and one more surplus "
        f"rack for {facts.label(order['dear_period'])} costs "
        f"{facts.money(order['dear_cost'])} (surplus cost and holding), {order['order']} "
        f"earns {facts.money(order['dear_value'])} per rack"
    )
    text = _headline("more surplus costs more than it earns", facts, rows) + detail
    return Reason("surplus_cost", text, float(order["dear_cost"]), facts.short_racks(rows))


def _next_in_line(facts: _Facts, rows: np.ndarray) -> Reason:
    order = facts.order(rows[0])
    detail = (
        f"one more {order['product']} rack in {facts.label(order['gap_period'])} is worth "
        f"{facts.money(order['gap_dual'])} at the margin, what {order['order']} earns per rack"
    )
    text = _headline("next in line for more supply", facts, rows) + detail
    return Reason("next_in_line", text, float(order["gap_dual"]), facts.short_racks(rows))


def _region_power(facts: _Facts, rows: np.ndarray) -> Reason:
    order = facts.order(rows[0])
    slack = float(order["block_limit_kw"] - order["block_used_kw"])
    detail = (
        f"{order['region']} has used {order['block_used_kw']:,.0f} of "
        f"{order['block_limit_kw']:,.0f} kW by {facts.label(order['block_period'])} (slack "
        f"{slack:,.0f} kW, one {order['product']} rack draws {order['rack_kw']:,.0f} kW)"
    )
    figure = slack
    if facts.has_duals:
        figure = float(order["power_value"])
        detail += (
            f"; one more kW there from {facts.label(order['first_ship'])} on is worth "
            f"{facts.money(figure)}"
        )
    text = _headline("its region's power is full", facts, rows) + detail
    return Reason("region_power", text, figure, facts.short_racks(rows))


# --- per customer --------------------------------------------------------------------


def _customer_reasons(facts: _Facts, customer: str) -> list[Reason]:
    if facts.segments[customer] != "third_party":
        return []
    reasons = [_share_cap(facts, customer), _deal_not_worth(facts, customer)]
    return [reason for reason in reasons if reason is not None]


def _share_cap(facts: _Facts, customer: str) -> Reason | None:
    """Constraint 6's slack share * all racks - third-party racks; binding for this
    customer when the room it leaves, slack / (1 - share) racks, is less than one rack
    (its minimum deal when the deal was rejected)."""
    share = float(facts.instance.policy.third_party_max_share)
    if share >= 1.0:
        return None
    total, third_party = facts.shipped_racks, facts.third_party_racks
    slack = share * total - third_party
    needed = 1.0
    if facts.is_rejected(customer):
        needed = max(1.0, facts.min_contract_racks(customer))
    if slack / (1.0 - share) >= needed - 1e-9:
        return None
    racks = facts.waiting(customer)
    shipped_share = third_party / total if total else 0.0
    text = (
        f"the third-party share cap is binding ({racks_text(racks)}): third parties "
        f"get {format_racks(third_party)} of {format_racks(total)} racks shipped "
        f"({shipped_share:.1%}, cap {share:.1%}), slack {slack:,.2f} racks"
    )
    return Reason("share_cap", text, slack, racks)


def _deal_not_worth(facts: _Facts, customer: str) -> Reason | None:
    """A rejected deal whose minimum size cannot be supplied in its windows, or whose
    best possible contribution (its racks' unit values over the marginal value of the
    supply they take, at least its minimum size) does not pay its onboarding cost."""
    if not facts.is_rejected(customer):
        return None
    racks = facts.waiting(customer)
    min_contract = facts.min_contract_racks(customer)
    suppliable = facts.suppliable.get(customer, 0.0)
    if min_contract > suppliable + 1e-9:
        text = (
            f"its deal's minimum size cannot be supplied ({racks_text(racks)}): the "
            f"minimum deal is {format_racks(min_contract)} racks, at most "
            f"{format_racks(suppliable)} can be made or held in its windows"
        )
        return Reason("deal_not_worth", text, suppliable, racks)
    onboarding = facts.onboarding_cost(customer)
    best, positive = _best_deal_value(facts, facts.orders_of(customer), min_contract)
    if positive <= 0 or (onboarding <= 0 and min_contract <= positive):
        return None
    if best > onboarding + 1e-6 + 1e-9 * abs(onboarding):
        return None
    over = " over the marginal value of its supply" if facts.has_duals else ""
    text = (
        f"its deal's minimum size is not worth the onboarding cost ({format_racks(racks)} "
        f"racks): a deal of at least {racks_text(min_contract)} earns at most "
        f"{facts.money(best)}{over}, onboarding costs {facts.money(onboarding)}"
    )
    return Reason("deal_not_worth", text, best, racks)


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


def _best_deal_value(facts: _Facts, rows: np.ndarray, min_contract: float) -> tuple[float, float]:
    """The most a deal of at least ``min_contract`` racks earns over the marginal value of
    the supply it takes (each short order at ``rows`` at the best period of its window,
    ``gap``), and how many racks earn more than their supply."""
    gap = facts.values("gap", rows)
    served = ~np.isnan(gap)
    gap, short = gap[served], facts.values("short", rows)[served]
    best_first = _descending(gap)
    best = taken = positive = 0.0
    for net, racks in zip(gap[best_first].tolist(), short[best_first].tolist(), strict=True):
        if net > 0:
            positive += racks
        take = racks if net > 0 else max(0.0, min(racks, min_contract - taken))
        best += net * take
        taken += take
    return best, positive


def _descending(values: np.ndarray) -> np.ndarray:
    """The positions that sort ``values`` (no NaN) from largest to smallest, equal values
    in the order ``DataFrame.sort_values(ascending=False)`` leaves them (a quicksort of
    the reversed values, not stable), which fixes the order of the running sums."""
    reversed_positions = np.arange(len(values))[::-1]
    return reversed_positions[values[::-1].argsort(kind="quicksort")][::-1]


def _unexplained(facts: _Facts, customer: str) -> Reason:
    racks = facts.waiting(customer)
    rows = facts.orders_of(customer)
    served = rows[~np.isnan(facts.values("gap", rows))]
    if not facts.has_duals or not len(served):
        text = (
            f"no single limit explains it ({racks_text(racks)}): the plan leaves "
            "supply, power and cap room for it (no marginal values to compare with)"
        )
        return Reason("integrality", text, math.nan, racks)
    order = facts.order(_closest_call(facts, served))
    text = (
        f"no single limit explains it ({racks_text(racks)}): in "
        f"{facts.label(order['gap_period'])} {order['order']} earns "
        f"{facts.money(order['gap'])} per rack more than the marginal value of a "
        f"{order['product']} rack ({facts.money(order['gap_dual'])}) and no cap, power limit "
        "or deal size binds; whole racks and all-or-nothing deals leave it short"
    )
    return Reason("integrality", text, float(order["gap"]), racks)
