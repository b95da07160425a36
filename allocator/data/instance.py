"""The validated instance: typed tables plus the derived sets the model is built from.

`build_instance` is the one place derived data is computed (ship windows, service
margin per order, the full supply grid), so the model builder never wrangles data and
a what-if study that changes a table gets consistent derived data by calling it again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from allocator.data.schema import TABLES


@dataclass(frozen=True)
class Policy:
    """The ``[policy]`` table of ``instance.toml``."""

    third_party_max_share: float
    internal_shortfall_penalty: float


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
    surplus_wafers: pd.Series
    content_hash: str
    source: str = ""
    """Where the instance was read from (a folder or workbook path), for the records;
    not part of its content: a what-if variant built in memory has none."""

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def periods(self) -> int:
        return self.settings.periods

    @property
    def policy(self) -> Policy:
        return self.settings.policy

    @cached_property
    def _order_positions(self) -> pd.Index:
        return pd.Index(self.orders["order"])

    def order_rows(self, orders: pd.Series | np.ndarray | list[str]) -> np.ndarray:
        """Row positions in ``orders`` of the order ids given (-1 for an unknown id)."""
        return self._order_positions.get_indexer(pd.Index(orders))

    def rack_value(self, order_rows: np.ndarray, ship_periods: np.ndarray) -> np.ndarray:
        """pi(o) + m(o) - k(o) * (t - r(o)): what one rack of order o shipped in period t
        adds to the objective, for rows of ``orders`` (`order_rows`) and ship periods.

        The one place the model (objective coefficients, in-place what-if updates), the
        plan repair (which rack to cut first) and the explanations (a rack's value
        against the marginal value of supply) read it from. The plan's independent
        re-check (`allocator.plan.tables.objective_terms`) recomputes its terms on
        purpose, so that a wrong coefficient here cannot check itself.
        """
        orders = self.orders
        price = orders["price_per_rack"].to_numpy(dtype=float)[order_rows]
        margin = orders["margin_per_rack"].to_numpy(dtype=float)[order_rows]
        penalty = orders["delay_penalty"].to_numpy(dtype=float)[order_rows]
        requested = orders["period"].to_numpy(dtype=np.int64)[order_rows]
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
    orders = _derive_orders(tables["orders"], products, customers, services, attach, periods)
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
        surplus_wafers=surplus_wafers,
        content_hash=content_hash,
    )


def _derive_orders(
    orders: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    services: pd.DataFrame,
    attach: pd.DataFrame,
    periods: int,
) -> pd.DataFrame:
    orders = orders.reset_index(drop=True).copy()
    by_customer = customers.set_index("customer")
    orders["segment"] = orders["customer"].map(by_customer["segment"])
    orders["region"] = orders["customer"].map(by_customer["region"])
    available_from = orders["product"].map(products.set_index("product")["available_from"])
    orders["first_ship"] = np.maximum(orders["period"], available_from).astype("int64")
    orders["last_ship"] = np.minimum(orders["period"] + orders["max_delay"], periods).astype(
        "int64"
    )
    margin = attach.merge(services, on="service").groupby(["customer", "product"])[
        ["attach_rate", "margin_per_rack"]
    ]
    margin_per_rack = margin.apply(
        lambda group: float((group["attach_rate"] * group["margin_per_rack"]).sum())
    )
    keys = pd.MultiIndex.from_arrays([orders["customer"], orders["product"]])
    orders["margin_per_rack"] = (
        margin_per_rack.reindex(keys).fillna(0.0).to_numpy(dtype="float64")
        if len(margin_per_rack)
        else 0.0
    )
    return orders


def _content_hash(settings: Settings, tables: dict[str, pd.DataFrame]) -> str:
    """SHA-256 of the parsed content: the same data as CSVs or as a workbook hash alike."""
    digest = hashlib.sha256()
    digest.update(repr(settings).encode())
    for name, table in TABLES.items():
        frame = tables[name].loc[:, list(table.column_names)]
        frame = frame.sort_values(list(table.key), kind="stable")
        digest.update(name.encode())
        digest.update(frame.to_csv(index=False, lineterminator="\n").encode())
    return digest.hexdigest()
