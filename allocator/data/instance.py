"""The validated instance: typed tables plus the derived sets the model is built from.

`build_instance` is the one place derived data is computed (ship windows, service
margin per order, the full supply grid), so the model builder never wrangles data and
a what-if study that changes a table gets consistent derived data by calling it again.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from allocator.data.schema import TABLES


@dataclass(frozen=True)
class Policy:
    """The ``[policy]`` table of ``instance.toml``."""

    third_party_max_share: float
    internal_shortfall_penalty: float
    priority_rule: str = "profit"
    """``profit`` or ``lexicographic`` (the tiers' stages first)."""
    fair_share: bool = False
    """With ``lexicographic``: each tier's lowest fill rate is raised before its racks."""

    @property
    def is_lexicographic(self) -> bool:
        return self.priority_rule == "lexicographic"

    def hash_text(self) -> str:
        """The policy as hashed: an instance without the priority keys hashes as it did
        before they existed."""
        text = (
            f"Policy(third_party_max_share={self.third_party_max_share!r}, "
            f"internal_shortfall_penalty={self.internal_shortfall_penalty!r}"
        )
        if (self.priority_rule, self.fair_share) != ("profit", False):
            text += f", priority_rule={self.priority_rule!r}, fair_share={self.fair_share!r}"
        return text + ")"


@dataclass(frozen=True)
class Settings:
    """The scalar keys of ``instance.toml``."""

    name: str
    periods: int
    start: str | None
    currency: str
    policy: Policy


@dataclass(frozen=True, eq=False)
class Instance:
    """A valid instance. Tables keep the input's row order; do not mutate them.

    Derived columns:

    * ``orders``: ``segment``, ``region`` (of the customer), ``first_ship`` and
      ``last_ship`` (the ship window W(o); ``first_ship > last_ship`` when empty) and
      ``margin_per_rack`` m(o) = sum_s attach(c(o), s) * margin(s, p(o)).
    * ``supply``: one row per (product, period) for every period, missing rows as 0.
    * ``surplus_wafers``: one value per period 1..periods, missing as 0.
    * ``ship_options``: one row per (order, product it may ship), its own product first
      (row i is order i's own product), then the rows of ``substitutes.csv``: ``order``,
      ``product``, ``ordered_product``, ``price_per_rack`` pi(o, p), ``margin_per_rack``
      m(o, p), ``first_ship`` and ``last_ship`` (the window W(o, p)), ``order_row`` and
      ``is_substitute``. Without substitutes it is the orders themselves.
    """

    settings: Settings
    products: pd.DataFrame
    supply: pd.DataFrame
    foundry: pd.DataFrame
    customers: pd.DataFrame
    orders: pd.DataFrame
    services: pd.DataFrame
    attach: pd.DataFrame
    regions: pd.DataFrame
    substitutes: pd.DataFrame
    ship_options: pd.DataFrame
    surplus_wafers: pd.Series
    content_hash: str
    source: str = ""
    """Where the instance was read from (a folder or workbook path), for the records;
    not part of its content: a what-if variant built in memory has none."""

    @property
    def name(self) -> str:
        return self.settings.name

    def with_policy(self, policy: Policy) -> Instance:
        """This instance under another ``[policy]``; its content hash is this one's with
        the policy's text added (the tables are the same)."""
        settings = dataclasses.replace(self.settings, policy=policy)
        digest = hashlib.sha256((self.content_hash + policy.hash_text()).encode())
        return dataclasses.replace(self, settings=settings, content_hash=digest.hexdigest())

    @property
    def periods(self) -> int:
        return self.settings.periods

    @property
    def policy(self) -> Policy:
        return self.settings.policy

    @property
    def has_substitutes(self) -> bool:
        """Whether some order may be served with another product (substitutes.csv)."""
        return len(self.substitutes) > 0

    @cached_property
    def _order_positions(self) -> pd.Index:
        return pd.Index(self.orders["order"])

    @cached_property
    def _option_positions(self) -> pd.MultiIndex:
        options = self.ship_options
        return pd.MultiIndex.from_arrays([options["order"], options["product"]])

    def order_rows(self, orders: pd.Series | np.ndarray | list[str]) -> np.ndarray:
        """Row positions in ``orders`` of the order ids given (-1 for an unknown id); the
        same rows of ``ship_options`` are those orders' own products."""
        return self._order_positions.get_indexer(pd.Index(orders))

    def option_rows(self, orders: Any, products: Any) -> np.ndarray:
        """Row positions in ``ship_options`` of (order, product shipped) pairs (-1 for a
        product the order may not take)."""
        keys = pd.MultiIndex.from_arrays([np.asarray(orders), np.asarray(products)])
        return self._option_positions.get_indexer(keys)

    def rack_value(self, option_rows: np.ndarray, ship_periods: np.ndarray) -> np.ndarray:
        """pi(o, p) + m(o, p) - k(o) * (t - r(o)): what one rack of product p shipped to
        order o in period t adds to the objective, for rows of ``ship_options`` (an
        order's own product at its `order_rows`; any product at its `option_rows`).

        The one place the model (objective coefficients, in-place what-if updates), the
        plan repair (which rack to cut first) and the explanations (a rack's value
        against the marginal value of supply) read it from. The plan's independent
        re-check (`allocator.plan.tables.objective_terms`) recomputes its terms on
        purpose, so that a wrong coefficient here cannot check itself.
        """
        options = self.ship_options
        price = options["price_per_rack"].to_numpy(dtype=float)[option_rows]
        margin = options["margin_per_rack"].to_numpy(dtype=float)[option_rows]
        order_rows = options["order_row"].to_numpy(dtype=np.int64)[option_rows]
        penalty = self.orders["delay_penalty"].to_numpy(dtype=float)[order_rows]
        requested = self.orders["period"].to_numpy(dtype=np.int64)[order_rows]
        late = np.asarray(ship_periods, dtype=np.int64) - requested
        return price + margin - penalty * late

    @cached_property
    def period_labels(self) -> dict[int, str]:
        """Month labels (``2027-01``) when ``start`` is given, else ``P1``, ``P2``, ..."""
        if self.settings.start is None:
            return {t: f"P{t}" for t in range(1, self.periods + 1)}
        first = pd.Period(self.settings.start, freq="M")
        return {t: str(first + (t - 1)) for t in range(1, self.periods + 1)}


def build_instance(settings: Settings, tables: dict[str, pd.DataFrame]) -> Instance:
    """Assemble an `Instance` from typed base tables (as `allocator.data.validate` returns them)."""
    periods = settings.periods
    products = tables["products"].reset_index(drop=True)
    customers = tables["customers"].reset_index(drop=True)
    services = tables["services"].reset_index(drop=True)
    attach = tables["attach"].reset_index(drop=True)
    foundry = tables["foundry"].reset_index(drop=True)
    regions = tables["regions"].reset_index(drop=True)
    supply_given = tables["supply"].reset_index(drop=True)

    grid = pd.MultiIndex.from_product(
        [products["product"], range(1, periods + 1)], names=["product", "period"]
    )
    supply = (
        supply_given.set_index(["product", "period"])
        .reindex(grid, fill_value=0)
        .reset_index()
        .astype({"base_racks": "int64", "surplus_max_racks": "int64", "surplus_cost": "float64"})
    )
    surplus_wafers = (
        foundry.set_index("period")["surplus_wafers"]
        .reindex(range(1, periods + 1), fill_value=0.0)
        .astype("float64")
    )
    margins = _margin_per_rack(services, attach)
    orders = _derive_orders(tables["orders"], products, customers, margins, periods)
    substitutes = tables["substitutes"].reset_index(drop=True)
    ship_options = _ship_options(orders, substitutes, products, margins, periods)
    content_hash = _content_hash(settings, tables)
    return Instance(
        settings=settings,
        products=products,
        supply=supply,
        foundry=foundry,
        customers=customers,
        orders=orders,
        services=services,
        attach=attach,
        regions=regions,
        substitutes=substitutes,
        ship_options=ship_options,
        surplus_wafers=surplus_wafers,
        content_hash=content_hash,
    )


def base_tables(instance: Instance) -> dict[str, pd.DataFrame]:
    """The instance's base tables, as `build_instance` takes them (schema columns;
    ``supply`` as its full grid): change one and rebuild to get a variant."""
    return {
        name: getattr(instance, name).loc[:, list(table.column_names)]
        for name, table in TABLES.items()
    }


def _margin_per_rack(services: pd.DataFrame, attach: pd.DataFrame) -> pd.Series:
    """m(c, p) = sum_s attach(c, s) * margin(s, p), indexed by (customer, product)."""
    merged = attach.merge(services, on="service")
    if merged.empty:
        return pd.Series(dtype="float64")
    merged = merged.sort_values(["customer", "product"], kind="stable")
    per_service = merged["attach_rate"].to_numpy(float) * merged["margin_per_rack"].to_numpy(float)
    customers, products = merged["customer"].to_numpy(), merged["product"].to_numpy()
    first = np.flatnonzero(
        np.r_[True, (customers[1:] != customers[:-1]) | (products[1:] != products[:-1])]
    )
    keys = pd.MultiIndex.from_arrays(
        [customers[first], products[first]], names=["customer", "product"]
    )
    sizes = np.diff(np.r_[first, len(per_service)])
    margins = per_service[first]  # summed left to right, service by service, as sum() does
    for step in range(1, int(sizes.max())):
        more = sizes > step
        margins[more] += per_service[first[more] + step]
    return pd.Series(margins, index=keys)


def _margins_of(margins: pd.Series, customers: pd.Series, products: pd.Series) -> np.ndarray:
    keys = pd.MultiIndex.from_arrays([customers, products])
    if not len(margins):
        return np.zeros(len(keys), dtype="float64")
    return margins.reindex(keys).fillna(0.0).to_numpy(dtype="float64")


def _window(
    requested: pd.Series, max_delay: pd.Series, available_from: pd.Series, periods: int
) -> tuple[np.ndarray, np.ndarray]:
    """W = max(r, available_from) .. min(r + d, periods) as (first_ship, last_ship)."""
    first = np.maximum(requested.to_numpy(), available_from.to_numpy()).astype("int64")
    last = np.minimum((requested + max_delay).to_numpy(), periods).astype("int64")
    return first, last


def _derive_orders(
    orders: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    margins: pd.Series,
    periods: int,
) -> pd.DataFrame:
    orders = orders.reset_index(drop=True).copy()
    by_customer = customers.set_index("customer")
    orders["segment"] = orders["customer"].map(by_customer["segment"])
    orders["region"] = orders["customer"].map(by_customer["region"])
    available_from = orders["product"].map(products.set_index("product")["available_from"])
    orders["first_ship"], orders["last_ship"] = _window(
        orders["period"], orders["max_delay"], available_from, periods
    )
    orders["margin_per_rack"] = _margins_of(margins, orders["customer"], orders["product"])
    return orders


OPTION_COLUMNS = [
    "order",
    "product",
    "ordered_product",
    "price_per_rack",
    "margin_per_rack",
    "first_ship",
    "last_ship",
    "order_row",
    "is_substitute",
]


def _ship_options(
    orders: pd.DataFrame,
    substitutes: pd.DataFrame,
    products: pd.DataFrame,
    margins: pd.Series,
    periods: int,
) -> pd.DataFrame:
    """Every (order, product it may ship): its own product (row i = order i), then the
    substitutes in file order, each with its price, margin and window."""
    own = orders[["order", "product", "price_per_rack", "margin_per_rack"]].copy()
    own["ordered_product"] = orders["product"]
    own["first_ship"], own["last_ship"] = orders["first_ship"], orders["last_ship"]
    own["order_row"] = np.arange(len(orders), dtype="int64")
    own["is_substitute"] = False
    if not len(substitutes):
        return own[OPTION_COLUMNS]
    order_row = pd.Index(orders["order"]).get_indexer(substitutes["order"])
    extra = substitutes[["order", "product", "price_per_rack"]].copy()
    extra["ordered_product"] = orders["product"].to_numpy()[order_row]
    customer = orders["customer"].to_numpy()[order_row]
    extra["margin_per_rack"] = _margins_of(margins, pd.Series(customer), extra["product"])
    available_from = extra["product"].map(products.set_index("product")["available_from"])
    extra["first_ship"], extra["last_ship"] = _window(
        pd.Series(orders["period"].to_numpy()[order_row]),
        pd.Series(orders["max_delay"].to_numpy()[order_row]),
        available_from,
        periods,
    )
    extra["order_row"] = order_row.astype("int64")
    extra["is_substitute"] = True
    return pd.concat([own[OPTION_COLUMNS], extra[OPTION_COLUMNS]], ignore_index=True)


def _content_hash(settings: Settings, tables: dict[str, pd.DataFrame]) -> str:
    """SHA-256 of the parsed content: the same data as CSVs or as a workbook hash alike."""
    digest = hashlib.sha256()
    digest.update(
        repr(settings).replace(repr(settings.policy), settings.policy.hash_text()).encode()
    )
    for name, table in TABLES.items():
        if name == "substitutes" and not len(tables[name]):
            continue  # an instance without substitutes hashes as it did before the table
        columns = [
            column.name
            for column in table.columns
            if column.default is None or (tables[name][column.name] != column.default).any()
        ]  # an optional column at its default everywhere hashes as if it were absent
        frame = tables[name].loc[:, columns]
        frame = frame.sort_values(list(table.key), kind="stable")
        digest.update(name.encode())
        digest.update(frame.to_csv(index=False, lineterminator="\n").encode())
    return digest.hexdigest()
