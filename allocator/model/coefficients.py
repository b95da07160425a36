"""Every number of the model, computed once from the Instance.

Which variables and rows exist, their bounds, objective coefficients, right-hand sides
and the coefficients that are not 1.

`model_coefficients` is read by the Pyomo build (`allocator.model.build`: each
``add_<family>`` takes its numbers from here and wrangles no data) and by the in-place
update of what-if variants (`allocator.solver.resolve`: a variant's numbers written into a
copy of the base model's compiled arrays). One formula, one place: a new family's numbers
are added here once and both paths use them.

`structure` is what decides the shape of the compiled model (its columns, rows and
matrix entries): two instances with equal structures compile to arrays that differ only
in the numbers `allocator.solver.resolve` writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.plan.priority import (
    MIN_FILL,
    PROFIT,
    Stage,
    ordered_racks,
    priority_stages,
    tier_of_customer,
)
from allocator.plan.tables import committed_racks


@dataclass(frozen=True)
class ModelOptions:
    """How to build the model: ``strict`` makes internal fill hard (no shortfall
    variable u); ``relax`` drops integrality (the LP relaxation)."""

    strict: bool = False
    relax: bool = False


@dataclass(frozen=True)
class ShipColumns:
    """x[o,p,t] for every order o, product p it may ship (`Instance.ship_options`) and t
    in the window W(o,p): first every order's own product (orders.csv order, then t: the
    ``ship_racks[o,t]`` variables), then the substitutes (``substitute_racks[o,p,t]``)."""

    order: np.ndarray
    """Order id of each column."""
    period: np.ndarray
    """Ship period t of each column."""
    order_row: np.ndarray
    """Row of the order in ``instance.orders``."""
    option_row: np.ndarray
    """Row of (order, product) in ``instance.ship_options``."""
    is_substitute: np.ndarray
    """Whether the column ships a substitute (another product than the order's own)."""
    upper: np.ndarray
    """q(o): the order's racks (implied by order_quantity, stated as a bound)."""
    cost: np.ndarray
    """pi(o) + m(o) - k(o) * (t - r(o)) (`Instance.rack_value`)."""
    product: np.ndarray
    customer: np.ndarray
    is_third_party: np.ndarray
    region: np.ndarray
    power_kw: np.ndarray
    """power_kw[p(o)] of each column (region power)."""

    @property
    def keys(self) -> list[tuple[Any, ...]]:
        """Each column's variable index: (o, t) of ``ship_racks``, (o, p, t) of
        ``substitute_racks``."""
        return [
            (order, product, period) if substitute else (order, period)
            for order, product, period, substitute in zip(
                self.order.tolist(),
                self.product.tolist(),
                self.period.tolist(),
                self.is_substitute.tolist(),
                strict=True,
            )
        ]


@dataclass(frozen=True)
class Family:
    """A variable or constraint family: its keys in build order and one number per key
    for each named field (bounds, costs, right-hand sides, coefficients)."""

    keys: list[Any]
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    def __len__(self) -> int:
        return len(self.keys)

    def by_key(self, name: str) -> dict[Any, float]:
        return dict(zip(self.keys, self.values[name].tolist(), strict=True))


@dataclass(frozen=True)
class ModelCoefficients:
    """The model's numbers (see the module docstring), family by family."""

    ship: ShipColumns
    surplus: Family
    """s[p,t]: ``upper`` surplus_max_racks, ``cost`` -surplus_cost, ``wafers`` per rack."""
    stock: Family
    """v[p,t] for every product and period: ``cost`` -holding_cost."""
    deal: Family
    """y[c], third parties: ``cost`` -onboarding_cost, ``min_contract``, ``ordered`` Q(c)."""
    shortfall: Family
    """u[c], internal c with F(c) > 0 (none in strict mode): ``cost`` -penalty."""
    stock_balance: Family
    """Rows (p, t), supply order: ``rhs`` base_racks (+ initial_inventory at t = 1)."""
    foundry_surplus: Family
    """Rows t with a surplus variable: ``rhs`` surplus_wafers[t]."""
    order_quantity: Family
    """Rows o with a non-empty window: ``rhs`` q(o)."""
    internal_fill: Family
    """Rows c, internal with F(c) > 0: ``rhs`` F(c) = min_fill * Q(c)."""
    share: np.ndarray | None
    """Per ship column: 1 - share (third party) or -share (internal); None when no
    third-party order has a ship column (no row)."""
    region_power: Family
    """Rows (g, t) of regions.csv whose region some order delivers to: ``limit`` kW."""
    priority: PriorityNumbers | None = None
    """The lexicographic rule's stages (None under the profit rule)."""


@dataclass(frozen=True)
class PriorityNumbers:
    """The stages before profit (`allocator.plan.priority`), the tier of every ship
    column, and for fair share the rows c of ``fair_share``: ``tier`` k(c) and
    ``ordered`` Q(c) > 0, over the tiers ``fill_tiers`` that have a min_fill stage."""

    stages: list[Stage]
    column_tier: np.ndarray
    fill: Family
    fill_tiers: list[int]


def model_coefficients(instance: Instance, options: ModelOptions) -> ModelCoefficients:
    """Every number of the model for ``instance`` (see the module docstring)."""
    ship = ship_columns(instance)
    has_third_party = bool(ship.is_third_party.any())
    share = instance.policy.third_party_max_share
    return ModelCoefficients(
        ship=ship,
        surplus=surplus_columns(instance),
        stock=stock_columns(instance),
        deal=deal_columns(instance),
        shortfall=shortfall_columns(instance, options),
        stock_balance=stock_balance_rows(instance),
        foundry_surplus=foundry_surplus_rows(instance),
        order_quantity=order_quantity_rows(instance),
        internal_fill=internal_fill_rows(instance),
        share=np.where(ship.is_third_party, 1.0 - share, -share) if has_third_party else None,
        region_power=region_power_rows(instance),
        priority=priority_numbers(instance, ship),
    )


def priority_numbers(instance: Instance, ship: ShipColumns) -> PriorityNumbers | None:
    """The stages before profit, each ship column's tier, and the fair_share rows: every
    customer with Q(c) > 0 of a tier with a min_fill stage. None under the profit rule."""
    stages = [stage for stage in priority_stages(instance) if stage.criterion != PROFIT]
    if not stages:
        return None
    tiers = tier_of_customer(instance)
    fill_tiers = [
        stage.tier for stage in stages if stage.criterion == MIN_FILL and stage.tier is not None
    ]
    ordered = ordered_racks(instance)
    rows = tiers.index[(ordered.to_numpy() > 0) & tiers.isin(fill_tiers).to_numpy()]
    fill = Family(
        [str(customer) for customer in rows],
        {
            "tier": tiers[rows].to_numpy(dtype=np.int64),
            "ordered": ordered[rows].to_numpy(dtype=float),
        },
    )
    column_tier = tiers.reindex(ship.customer).to_numpy(dtype=np.int64)
    return PriorityNumbers(stages, column_tier, fill, fill_tiers)


def ship_columns(instance: Instance) -> ShipColumns:
    """x[o,p,t] for t in W(o,p) = first_ship..last_ship of each ship option; empty windows
    have none."""
    options = instance.ship_options
    first = options["first_ship"].to_numpy(dtype=np.int64)
    last = options["last_ship"].to_numpy(dtype=np.int64)
    length = np.maximum(last - first + 1, 0)
    option_row = np.repeat(np.arange(len(options)), length)
    offset = np.arange(len(option_row)) - np.repeat(np.cumsum(length) - length, length)
    period = first[option_row] + offset
    order_row = options["order_row"].to_numpy(dtype=np.int64)[option_row]
    orders = instance.orders
    products = instance.products.set_index("product")
    product = options["product"].to_numpy(dtype=object)[option_row]
    return ShipColumns(
        order=orders["order"].to_numpy(dtype=object)[order_row],
        period=period,
        order_row=order_row,
        option_row=option_row,
        is_substitute=options["is_substitute"].to_numpy(dtype=bool)[option_row],
        upper=orders["racks"].to_numpy(dtype=np.int64)[order_row],
        cost=instance.rack_value(option_row, period),
        product=product,
        customer=orders["customer"].to_numpy(dtype=object)[order_row],
        is_third_party=(orders["segment"].to_numpy(dtype=object) == "third_party")[order_row],
        region=orders["region"].to_numpy(dtype=object)[order_row],
        power_kw=products["power_kw"].reindex(product).to_numpy(dtype=float),
    )


def surplus_columns(instance: Instance) -> Family:
    """s[p,t] where t >= available_from(p) and surplus_max_racks[p,t] > 0."""
    supply = instance.supply
    products = instance.products.set_index("product")
    available_from = supply["product"].map(products["available_from"])
    made = supply[(supply["period"] >= available_from) & (supply["surplus_max_racks"] > 0)]
    keys = list(zip(made["product"], made["period"].astype(int).tolist(), strict=True))
    return Family(
        keys,
        {
            "upper": made["surplus_max_racks"].to_numpy(dtype=np.int64),
            "cost": -made["surplus_cost"].to_numpy(dtype=float),
            "wafers": made["product"].map(products["wafers_per_rack"]).to_numpy(dtype=float),
        },
    )


def stock_columns(instance: Instance) -> Family:
    """v[p,t] for every product p and period t = 1..periods."""
    products = instance.products
    keys = [(p, t) for p in products["product"] for t in range(1, instance.periods + 1)]
    holding = np.repeat(products["holding_cost"].to_numpy(dtype=float), instance.periods)
    return Family(keys, {"cost": -holding})


def deal_columns(instance: Instance) -> Family:
    """y[c] for every third-party customer."""
    customers = instance.customers
    third_party = customers[customers["segment"] == "third_party"]
    ordered = instance.orders.groupby("customer")["racks"].sum()
    return Family(
        third_party["customer"].tolist(),
        {
            "cost": -third_party["onboarding_cost"].to_numpy(dtype=float),
            "min_contract": third_party["min_contract_racks"].to_numpy(dtype=float),
            "ordered": ordered.reindex(third_party["customer"], fill_value=0).to_numpy(float),
        },
    )


def shortfall_columns(instance: Instance, options: ModelOptions) -> Family:
    """u[c] for internal c with committed racks F(c) > 0; none in strict mode."""
    committed = committed_racks(instance)
    keys = [] if options.strict else [str(c) for c in committed.index[committed > 0]]
    penalty = float(instance.policy.internal_shortfall_penalty)
    return Family(keys, {"cost": np.full(len(keys), -penalty)})


def stock_balance_rows(instance: Instance) -> Family:
    """(p, t) for every product and period: rhs base_racks[p,t], plus v[p,0] =
    initial_inventory[p] moved to the right-hand side of t = 1."""
    supply = instance.supply
    initial = supply["product"].map(instance.products.set_index("product")["initial_inventory"])
    first = (supply["period"] == 1).to_numpy()
    rhs = supply["base_racks"].to_numpy(dtype=float) + np.where(
        first, initial.to_numpy(dtype=float), 0.0
    )
    keys = list(zip(supply["product"], supply["period"].astype(int).tolist(), strict=True))
    return Family(keys, {"rhs": rhs})


def foundry_surplus_rows(instance: Instance) -> Family:
    """t for every period with at least one surplus variable: rhs surplus_wafers[t]."""
    periods = sorted({period for _, period in surplus_columns(instance).keys})
    rhs = instance.surplus_wafers.reindex(periods).to_numpy(dtype=float)
    return Family(periods, {"rhs": rhs})


def order_quantity_rows(instance: Instance) -> Family:
    """o for every order with a non-empty window: rhs q(o)."""
    orders = instance.orders
    has_window = orders["first_ship"] <= orders["last_ship"]
    return Family(
        orders.loc[has_window, "order"].tolist(),
        {"rhs": orders.loc[has_window, "racks"].to_numpy(dtype=float)},
    )


def internal_fill_rows(instance: Instance) -> Family:
    """c for every internal customer with F(c) = min_fill[c] * Q(c) > 0: rhs F(c)."""
    committed = committed_racks(instance)
    committed = committed[committed > 0]
    return Family([str(c) for c in committed.index], {"rhs": committed.to_numpy(dtype=float)})


def region_limits(instance: Instance) -> dict[str, list[tuple[int, float]]]:
    """Per region, its regions.csv (period, power_kw) rows in period order."""
    rows: dict[str, list[tuple[int, float]]] = defaultdict(list)
    regions = instance.regions.sort_values(["region", "period"], kind="stable")
    for region, period, limit in zip(
        regions["region"], regions["period"], regions["power_kw"], strict=True
    ):
        rows[region].append((int(period), float(limit)))
    return rows


def region_power_rows(instance: Instance) -> Family:
    """(g, t) rows of regions.csv, by region then period, for regions some order
    delivers to (elsewhere the limit is trivially met): ``limit`` kW."""
    delivered = set(instance.orders["region"])
    keys: list[tuple[str, int]] = []
    limits: list[float] = []
    for region, rows in region_limits(instance).items():
        if region in delivered:
            for period, limit in rows:
                keys.append((region, period))
                limits.append(limit)
    return Family(keys, {"limit": np.asarray(limits, dtype=float)})


def structure(numbers: ModelCoefficients) -> tuple[Any, ...]:
    """What decides the compiled model's shape: the keys of every family, which entries
    are nonzero (a zero coefficient or an objective-only column with cost 0 is dropped
    by the compiler), and the coefficients no in-place update writes (wafers and kW per
    rack). Equal structures, equal columns, rows and matrix sparsity."""
    ship = numbers.ship
    share = None if numbers.share is None else (numbers.share != 0).tobytes()
    deal = numbers.deal
    return (
        ship.order.tolist(),
        ship.period.tobytes() + ship.is_substitute.tobytes(),
        ship.power_kw.tobytes(),
        ship.region.tolist(),
        ship.product.tolist(),
        numbers.surplus.keys,
        numbers.surplus["wafers"].tobytes(),
        numbers.stock.keys,
        deal.keys,
        (deal["cost"] != 0).tobytes(),
        (deal["ordered"] != 0).tobytes(),
        (deal["min_contract"] > 0).tobytes(),
        numbers.shortfall.keys,
        numbers.stock_balance.keys,
        numbers.foundry_surplus.keys,
        numbers.order_quantity.keys,
        numbers.internal_fill.keys,
        share,
        numbers.region_power.keys,
        _priority_structure(numbers.priority),
    )


def _priority_structure(priority: PriorityNumbers | None) -> tuple[Any, ...] | None:
    """The stages, the columns each stage counts and the fair_share rows with their
    coefficients Q(c) (no in-place update writes them: a change rebuilds)."""
    if priority is None:
        return None
    fill = priority.fill
    return (priority.stages, priority.column_tier.tobytes(), fill.keys, fill["ordered"].tobytes())


@dataclass(frozen=True)
class FirstStageNumbers:
    """The first stage of a two-stage plan (`allocator.model.extensive`), shared by every
    scenario: ``surplus`` s[p,t] (``upper`` the least surplus_max_racks of any scenario,
    ``cost`` -surplus_cost of the base instance: the cost charged is the instance's),
    and with deals ``deals`` y[c] (the third-party customers; None when deals are decided
    per scenario)."""

    surplus: Family
    deals: list[str] | None


def first_stage_numbers(
    base: Instance, scenarios: Sequence[ModelCoefficients], *, deals: bool
) -> FirstStageNumbers:
    """s[p,t] for the (p,t) where every scenario has a surplus column (elsewhere some
    scenario cannot make surplus, so the shared s is 0), in the first scenario's order;
    y[c] for the base instance's third-party customers when ``deals``."""
    keys = list(scenarios[0].surplus.keys)
    upper = scenarios[0].surplus.by_key("upper")
    for numbers in scenarios[1:]:
        limits = numbers.surplus.by_key("upper")
        keys = [key for key in keys if key in limits]
        upper = {key: min(upper[key], limits[key]) for key in keys}
    cost = base.supply.set_index(["product", "period"])["surplus_cost"]
    surplus = Family(
        keys,
        {
            "upper": np.asarray([upper[key] for key in keys], dtype=np.int64),
            "cost": -np.asarray([float(cost[key]) for key in keys], dtype=float),
        },
    )
    return FirstStageNumbers(surplus, deal_columns(base).keys if deals else None)


def ship_vars_by(values: np.ndarray) -> dict[Any, list[int]]:
    """Ship column positions grouped by ``values`` (one per column), in column order;
    the groups in order of first appearance."""
    codes, keys = pd.factorize(values, sort=False)
    positions = np.argsort(codes, kind="stable").tolist()
    ends = np.cumsum(np.bincount(codes, minlength=len(keys))).tolist()
    return {
        key: positions[start:end]
        for key, start, end in zip(keys.tolist(), [0, *ends][:-1], ends, strict=True)
    }
