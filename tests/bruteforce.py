"""Random tiny instances and an exhaustive enumerator of their plans, for cross-checking the MIP.

Nothing here imports allocator: a `Tiny` instance is plain Python rows (the same rows
`write` puts into the CSV files), and `score` / `enumerate_optimum` implement SPEC.md's
model directly from those rows. A plan is three dicts: ``x[(order, product, period)]``
racks shipped (the order's own product or one of its substitutes), ``s[(product,
period)]`` surplus racks, ``y[customer]`` deal accepted (0/1).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOL = 1e-9
"""Slack when checking a plan: every quantity a constraint compares (wafers, kW, share or
min_fill times racks) is a multiple of 1/4 in generated data, so a plan is clearly
feasible or clearly not."""

MAX_PLANS = 50_000
"""Largest enumeration space the generator accepts (x combos * s combos * y combos)."""

COLUMNS = {
    "products": [
        "product",
        "available_from",
        "wafers_per_rack",
        "power_kw",
        "holding_cost",
        "initial_inventory",
    ],
    "supply": ["product", "period", "base_racks", "surplus_max_racks", "surplus_cost"],
    "foundry": ["period", "surplus_wafers"],
    "customers": [
        "customer",
        "segment",
        "region",
        "min_fill",
        "onboarding_cost",
        "min_contract_racks",
    ],
    "orders": [
        "order",
        "customer",
        "product",
        "period",
        "racks",
        "price_per_rack",
        "max_delay",
        "delay_penalty",
    ],
    "services": ["service", "product", "margin_per_rack"],
    "attach": ["customer", "service", "attach_rate"],
    "regions": ["region", "period", "power_kw"],
    "substitutes": ["order", "product", "price_per_rack"],
}
OPTIONAL_TABLES = ("regions", "substitutes")


@dataclass
class Tiny:
    """A tiny instance as rows of dicts keyed by SPEC.md's column names."""

    periods: int
    share: float
    penalty: float
    tables: dict[str, list[dict]] = field(default_factory=dict)
    write_regions: bool = True
    """False: no regions.csv at all (the table is optional)."""

    def rows(self, name: str) -> list[dict]:
        return self.tables.get(name, [])

    def describe(self) -> str:
        lines = [f"periods={self.periods} share={self.share} penalty={self.penalty}"]
        for name in COLUMNS:
            for row in self.rows(name):
                lines.append(f"  {name}: {row}")
        return "\n".join(lines)


# --- generator -----------------------------------------------------------------------

SHARES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.0)
MIN_FILLS = (0, 0.25, 0.5, 0.75, 1)
ATTACH_RATES = (0, 0.25, 0.5, 0.75, 1)
PENALTIES = (0.0, 100.0, 1000.0, 20000.0, 2.0e7)
"""Exact data: money is whole, margins are even and attach rates multiples of 1/4, so
every objective coefficient (price + margin - delay) is a multiple of 1/2; min_fill and
share are multiples of 1/4 and penalties multiples of 4, so the shortfall penalty is
whole. Every objective value is then exact in binary floating point, and objectives are
compared with an absolute tolerance of 1e-6."""

FAMILIES = (
    "stock_balance",
    "foundry_surplus",
    "order_quantity",
    "internal_fill",
    "third_party_deal",
    "third_party_share",
    "region_power",
)
"""Constraint families; each is also a generation mode of `random_tiny` that makes it
bind by construction."""


def random_tiny(seed: int, *, mode: str | None = None, max_plans: int = MAX_PLANS) -> Tiny:
    """A random valid instance whose plan space has at most ``max_plans`` plans.

    ``mode`` None draws every table freely; a family name of `FAMILIES` draws an
    instance built so that that family binds at the optimum (see the builders)."""
    rng = random.Random(seed if mode is None else f"{mode}-{seed}")
    draw = _draw if mode is None else BUILDERS[mode]
    while True:
        tiny = draw(rng)
        if space_size(tiny) <= max_plans:
            return tiny


def _draw(rng: random.Random) -> Tiny:
    periods = rng.randint(1, 3)
    tiny = Tiny(periods=periods, share=rng.choice(SHARES), penalty=rng.choice(PENALTIES))
    products = [f"p{i}" for i in range(1, rng.randint(1, 2) + 1)]
    tiny.tables["products"] = [
        {
            "product": p,
            "available_from": 1 if rng.random() < 0.5 else rng.randint(1, periods),
            "wafers_per_rack": rng.choice([1, 1.5, 2, 3]),
            "power_kw": rng.choice([0, 1, 1.5, 2]),
            "holding_cost": rng.choice([0, 1, 5, 25, 400]),
            "initial_inventory": rng.randint(0, 1),
        }
        for p in products
    ]
    tiny.tables["supply"] = [
        {
            "product": p,
            "period": t,
            "base_racks": rng.choice([0, 1, 1, 2]),
            "surplus_max_racks": rng.randint(0, 2),
            "surplus_cost": rng.choice([0, 10, 50, 200, 1000]),
        }
        for p in products
        for t in range(1, periods + 1)
        if rng.random() < 0.8
    ]
    tiny.tables["foundry"] = [
        {"period": t, "surplus_wafers": rng.choice([0, 1, 1.5, 2, 3, 4.5, 6])}
        for t in range(1, periods + 1)
        if rng.random() < 0.8
    ]
    customers = []
    for i in range(1, rng.randint(1, 3) + 1):
        internal = rng.random() < (0.8 if i == 1 else 0.4)
        customers.append(
            {
                "customer": f"{'int' if internal else 'tp'}{i}",
                "segment": "internal" if internal else "third_party",
                "region": rng.choice(["r1", "r2"]),
                "min_fill": rng.choice(MIN_FILLS) if internal else 0,
                "onboarding_cost": 0 if internal else rng.choice([0, 100, 500, 2000]),
                "min_contract_racks": 0 if internal else rng.randint(0, 3),
            }
        )
    tiny.tables["customers"] = customers
    tiny.tables["orders"] = [
        {
            "order": f"o{i}",
            "customer": rng.choice(customers)["customer"],
            "product": rng.choice(products),
            "period": rng.randint(1, periods),
            "racks": rng.randint(1, 2),
            "price_per_rack": rng.randint(0, 12) * 100,
            "max_delay": rng.randint(0, 1),
            "delay_penalty": rng.choice([0, 50, 300, 2000]),
        }
        for i in range(1, rng.randint(1, 3) + 1)
    ]
    _add_services(rng, tiny, products, customers)
    tiny.write_regions = rng.random() < 0.7
    tiny.tables["regions"] = [
        {"region": g, "period": t, "power_kw": rng.choice([0, 1, 2, 3, 4.5, 6])}
        for g in ("r1", "r2")
        for t in range(1, periods + 1)
        if tiny.write_regions and rng.random() < 0.4
    ]
    return tiny


def _add_services(
    rng: random.Random, tiny: Tiny, products: list[str], customers: list[dict]
) -> None:
    services = [f"svc{i}" for i in range(1, rng.randint(0, 2) + 1)]
    tiny.tables["services"] = [
        {"service": service, "product": p, "margin_per_rack": rng.randint(0, 5) * 50}
        for service in services
        for p in products
        if p == products[-1] or rng.random() < 0.7  # every service has a row
    ]
    tiny.tables["attach"] = [
        {"customer": c["customer"], "service": service, "attach_rate": rng.choice(ATTACH_RATES)}
        for c in customers
        for service in services
        if rng.random() < 0.6
    ]


# --- generation modes: one constraint family binds by construction --------------------


def _product(
    name: str, *, wafers: float = 1, power: float = 1, holding: int = 0, initial: int = 0
) -> dict:
    return {
        "product": name,
        "available_from": 1,
        "wafers_per_rack": wafers,
        "power_kw": power,
        "holding_cost": holding,
        "initial_inventory": initial,
    }


def _supply(product: str, period: int, base: int, surplus_max: int = 0, cost: int = 0) -> dict:
    return {
        "product": product,
        "period": period,
        "base_racks": base,
        "surplus_max_racks": surplus_max,
        "surplus_cost": cost,
    }


def _customer(
    name: str,
    *,
    region: str = "r1",
    min_fill: float = 0,
    onboarding: int = 0,
    min_contract: int = 0,
) -> dict:
    third_party = name.startswith("tp")
    return {
        "customer": name,
        "segment": "third_party" if third_party else "internal",
        "region": region,
        "min_fill": 0 if third_party else min_fill,
        "onboarding_cost": onboarding if third_party else 0,
        "min_contract_racks": min_contract if third_party else 0,
    }


def _order(
    name: str,
    customer: str,
    product: str,
    period: int,
    racks: int,
    price: int,
    max_delay: int = 0,
    delay_penalty: int = 0,
) -> dict:
    return {
        "order": name,
        "customer": customer,
        "product": product,
        "period": period,
        "racks": racks,
        "price_per_rack": price,
        "max_delay": max_delay,
        "delay_penalty": delay_penalty,
    }


def _no_regions(tiny: Tiny) -> Tiny:
    tiny.tables["regions"] = []
    tiny.write_regions = False
    return tiny


def _stock_balance(rng: random.Random) -> Tiny:
    """Scarce stock: per product, demand exceeds initial inventory plus base racks, no
    surplus; prices far above holding and delay costs, share 1, no power rows. One more
    rack in stock at period 1 can always be sold at a profit."""
    periods = rng.randint(1, 3)
    tiny = Tiny(periods=periods, share=1.0, penalty=rng.choice([0.0, 100.0]))
    products = [f"p{i}" for i in range(1, rng.randint(1, 2) + 1)]
    tiny.tables["products"] = [
        _product(p, holding=rng.choice([0, 1, 5]), initial=rng.randint(0, 1)) for p in products
    ]
    customers = [_customer("int1", min_fill=rng.choice(MIN_FILLS)), _customer("tp2")]
    tiny.tables["customers"] = customers
    tiny.tables["supply"] = []
    tiny.tables["orders"] = []
    for p, row in zip(products, tiny.tables["products"], strict=True):
        supply = [rng.choice([0, 1, 1, 2]) for _ in range(periods)]
        tiny.tables["supply"] += [
            _supply(p, t, base) for t, base in enumerate(supply, start=1) if base
        ]
        available = row["initial_inventory"] + sum(supply)
        wanted = available + rng.randint(1, 2)
        while wanted > 0:
            racks = min(wanted, rng.randint(1, 3))
            wanted -= racks
            tiny.tables["orders"].append(
                _order(
                    f"o{len(tiny.tables['orders']) + 1}",
                    rng.choice(customers)["customer"],
                    p,
                    rng.randint(1, periods),
                    racks,
                    rng.randint(3, 12) * 100,
                    rng.randint(0, 1),
                    rng.choice([0, 10, 50]),
                )
            )
    _add_services(rng, tiny, products, customers)
    return _no_regions(tiny)


def _foundry_surplus(rng: random.Random) -> Tiny:
    """Surplus is the only supply and cheap; in each period the foundry offers wafers for
    k whole racks of the first product (k = 1 or 2), its surplus_max_racks is k + 1 and
    k + 1 racks of it are ordered, so more wafers would always be used."""
    periods = rng.randint(1, 2)
    tiny = Tiny(periods=periods, share=1.0, penalty=0.0)
    products = [f"p{i}" for i in range(1, rng.randint(1, 2) + 1)]
    tiny.tables["products"] = [
        _product(p, wafers=rng.choice([1, 1.5, 2]), holding=rng.choice([0, 1])) for p in products
    ]
    first = tiny.tables["products"][0]["wafers_per_rack"]
    racks = {t: rng.randint(1, 2) for t in range(1, periods + 1)}
    tiny.tables["foundry"] = [{"period": t, "surplus_wafers": first * k} for t, k in racks.items()]
    tiny.tables["supply"] = [
        _supply(p, t, 0, k + 1, rng.choice([0, 10, 50])) for p in products for t, k in racks.items()
    ]
    customers = [_customer("int1"), _customer("int2", region="r2")]
    tiny.tables["customers"] = customers
    tiny.tables["orders"] = [
        _order(
            f"o{len(products) * (t - 1) + i}",
            rng.choice(customers)["customer"],
            p,
            t,
            k + 1 if p == "p1" else rng.randint(1, 2),
            rng.randint(2, 10) * 100,
        )
        for t, k in racks.items()
        for i, p in enumerate(products, start=1)
    ]
    _add_services(rng, tiny, products, customers)
    return _no_regions(tiny)


def _order_quantity(rng: random.Random) -> Tiny:
    """Plenty of stock at period 1 (every order and one rack more each), positive unit
    values, share 1, no power rows: every order is served in full and would take more."""
    periods = rng.randint(1, 2)
    tiny = Tiny(periods=periods, share=1.0, penalty=rng.choice([0.0, 1000.0]))
    products = [f"p{i}" for i in range(1, rng.randint(1, 2) + 1)]
    tiny.tables["products"] = [_product(p, holding=rng.choice([0, 1])) for p in products]
    customers = [
        _customer("int1", min_fill=rng.choice(MIN_FILLS)),
        _customer("tp2", onboarding=rng.choice([0, 100])),
    ]
    tiny.tables["customers"] = customers
    tiny.tables["orders"] = [
        _order(
            f"o{i}",
            rng.choice(customers)["customer"],
            rng.choice(products),
            rng.randint(1, periods),
            rng.randint(1, 2),
            rng.randint(2, 12) * 100,
            rng.randint(0, 1),
            rng.choice([0, 50]),
        )
        for i in range(1, rng.randint(2, 3) + 1)
    ]
    demand = {p: 0 for p in products}
    for order in tiny.tables["orders"]:
        demand[order["product"]] += order["racks"] + 1
    tiny.tables["supply"] = [_supply(p, 1, demand[p]) for p in products]
    _add_services(rng, tiny, products, customers)
    return _no_regions(tiny)


def _internal_fill(rng: random.Random) -> Tiny:
    """An internal customer committed to more racks (min_fill * its orders) than exist,
    so it falls short at any plan; another customer may pay more than its price plus
    the penalty."""
    periods = rng.randint(1, 2)
    tiny = Tiny(periods=periods, share=1.0, penalty=rng.choice([100.0, 1000.0, 20000.0]))
    tiny.tables["products"] = [_product("p1", holding=rng.choice([0, 1]))]
    ordered, min_fill = rng.choice([(2, 0.75), (2, 1), (3, 0.5), (3, 0.75), (3, 1), (4, 0.5)])
    committed = ordered * min_fill
    supply = rng.randint(1, math.ceil(committed) - 1)  # < committed
    tiny.tables["supply"] = [_supply("p1", 1, supply)]
    other = rng.choice(["int2", "tp2"])
    tiny.tables["customers"] = [
        _customer("int1", min_fill=min_fill),
        _customer(other, min_fill=rng.choice([0, 0.25])),
    ]
    tiny.tables["orders"] = [
        _order("o1", "int1", "p1", 1, ordered, rng.randint(1, 3) * 100, periods - 1, 0),
        _order("o2", other, "p1", rng.randint(1, periods), rng.randint(1, 2), 1200),
    ]
    return _no_regions(tiny)


def _third_party_deal(rng: random.Random) -> Tiny:
    """A third party's minimum contract m takes all m racks that exist. Mostly: its
    racks are worth less than an internal order's (1 rack), but the deal as a whole is
    worth more (m * p_T - onboarding > p_I > p_T): accepted at exactly m racks, and a
    smaller minimum would free a rack for the internal order. Otherwise only m - 1 racks
    exist and the deal is rejected because of its minimum."""
    tiny = Tiny(periods=1, share=1.0, penalty=0.0)
    tiny.tables["products"] = [_product("p1")]
    m = rng.randint(2, 3)
    onboarding = rng.choice([0, 50, 100])
    price_tp = rng.randint(3, 6) * 100
    rejected = rng.random() < 0.3
    if rejected:
        m = 3  # m - 1 = 2 racks: with a smaller minimum both the internal order and tp1 get one
    price_internal = rng.randrange(price_tp + 50, m * price_tp - onboarding, 50)
    tiny.tables["supply"] = [_supply("p1", 1, m - 1 if rejected else m)]
    tiny.tables["customers"] = [
        _customer("tp1", onboarding=onboarding, min_contract=m, region=rng.choice(["r1", "r2"])),
        _customer("int2"),
    ]
    tiny.tables["orders"] = [
        _order("o1", "tp1", "p1", 1, m + rng.randint(0, 1), price_tp),
        _order("o2", "int2", "p1", 1, 1, price_internal),
    ]
    return _no_regions(tiny)


def _third_party_share(rng: random.Random) -> Tiny:
    """Third parties pay more than internal orders, stock is plentiful, and the share cap
    allows a whole number of third-party racks, fewer than ordered."""
    periods = rng.randint(1, 2)
    share, internal = rng.choice([(0.25, 3), (0.5, 1), (0.5, 2), (0.75, 1)])
    cap = round(share / (1 - share) * internal)
    tiny = Tiny(periods=periods, share=share, penalty=0.0)
    tiny.tables["products"] = [_product("p1")]
    tiny.tables["supply"] = [_supply("p1", 1, internal + cap + 3)]
    tiny.tables["customers"] = [
        _customer("int1", min_fill=rng.choice(MIN_FILLS)),
        _customer("tp2", onboarding=rng.choice([0, 100]), min_contract=rng.randint(0, 1)),
    ]
    tiny.tables["orders"] = [
        _order("o1", "int1", "p1", 1, internal, rng.randint(2, 5) * 100, periods - 1),
        _order("o2", "tp2", "p1", rng.randint(1, periods), cap + rng.randint(1, 2), 1000),
    ]
    return _no_regions(tiny)


def _region_power(rng: random.Random) -> Tiny:
    """Region r1 has a cumulative power row in every period (2 or 3 rows) allowing fewer
    racks than an internal customer and a third party there order over the periods;
    stock is plentiful and orders profitable, so the rows bind, and racks shipped in an
    early period count against the later rows."""
    periods = rng.randint(2, 3)
    tiny = Tiny(periods=periods, share=1.0, penalty=0.0)
    power = rng.choice([1, 1.5, 2])
    tiny.tables["products"] = [_product("p1", power=power)]
    tiny.tables["supply"] = [_supply("p1", t, 3) for t in range(1, periods + 1)]
    customers = [
        _customer("int1", min_fill=rng.choice([0, 0.25])),
        _customer("tp2", onboarding=rng.choice([0, 100]), min_contract=rng.randint(0, 1)),
        _customer("int3", region="r2"),
    ]
    tiny.tables["customers"] = customers
    orders: list[dict] = []
    for t in range(1, periods + 1):
        for customer in rng.sample(["int1", "tp2", "int3"], rng.randint(1, 2)):
            orders.append(
                _order(
                    f"o{len(orders) + 1}",
                    customer,
                    "p1",
                    t,
                    rng.randint(1, 2),
                    rng.randint(6 if customer == "tp2" else 3, 12) * 100,
                    rng.randint(0, 1),
                    rng.choice([0, 50]),
                )
            )
    if not any(order["customer"] == "tp2" for order in orders):
        orders[0]["customer"] = "tp2"
    tiny.tables["orders"] = orders
    # each cumulative row allows 1 or 2 racks fewer than r1 requested up to its period
    # (at least 1)
    requested = 0
    rows = []
    for t in range(1, periods + 1):
        requested += sum(
            order["racks"]
            for order in orders
            if order["period"] == t and order["customer"] != "int3"
        )
        allowed = max(1, requested - rng.randint(1, 2))
        rows.append({"region": "r1", "period": t, "power_kw": power * allowed})
    tiny.tables["regions"] = rows
    tiny.write_regions = True
    _add_services(rng, tiny, ["p1"], customers)
    return tiny


def _substitutes(rng: random.Random) -> Tiny:
    """A free draw with two products where some orders may also take the other one, at a
    whole price of their own: the enumerator then chooses among products too."""
    while True:
        tiny = _draw(rng)
        products = [row["product"] for row in tiny.rows("products")]
        if len(products) == 2:
            break
    tiny.tables["substitutes"] = [
        {
            "order": row["order"],
            "product": next(p for p in products if p != row["product"]),
            "price_per_rack": rng.randint(0, 12) * 100,
        }
        for row in tiny.rows("orders")
        if rng.random() < 0.7
    ]
    return tiny


BUILDERS: dict[str, Callable[[random.Random], Tiny]] = {
    "substitutes": _substitutes,
    "stock_balance": _stock_balance,
    "foundry_surplus": _foundry_surplus,
    "order_quantity": _order_quantity,
    "internal_fill": _internal_fill,
    "third_party_deal": _third_party_deal,
    "third_party_share": _third_party_share,
    "region_power": _region_power,
}


def write(tiny: Tiny, folder: Path) -> Path:
    """Write ``instance.toml`` and the CSV tables into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "instance.toml").write_text(
        'name = "bruteforce"\n'
        f"periods = {tiny.periods}\n"
        "[policy]\n"
        f"third_party_max_share = {tiny.share!r}\n"
        f"internal_shortfall_penalty = {tiny.penalty!r}\n",
        encoding="utf-8",
    )
    for name, columns in COLUMNS.items():
        if name == "regions" and not tiny.write_regions:
            continue
        if name == "substitutes" and not tiny.rows(name):
            continue  # optional: an instance without substitutes has no file
        lines = [",".join(columns)]
        lines += [",".join(str(row[column]) for column in columns) for row in tiny.rows(name)]
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


# --- the model, straight from SPEC.md ---------------------------------------------------


@dataclass(frozen=True)
class Plan:
    x: dict[tuple[str, str, int], int]
    s: dict[tuple[str, int], int]
    y: dict[str, int]


class Model:
    """SPEC.md's constraints and objective over one `Tiny`, split by the variables each
    term reads: `ship_part` (x), `surplus_part` (s, given what x ships of each product)
    and `deal_part` (y, given what x ships to each customer). Given x, the s and y parts
    are independent, which `enumerate_optimum` uses."""

    def __init__(self, tiny: Tiny, *, strict: bool = False, order_slack: int = 0) -> None:
        self.tiny = tiny
        self.strict = strict
        self.order_slack = order_slack
        """Racks each order may ship beyond q(o) (loosens (3) only; internal fill and
        deals still use the ordered racks): 0 is SPEC.md's model."""
        self.periods = range(1, tiny.periods + 1)
        self.products = {row["product"]: row for row in tiny.rows("products")}
        self.customers = {row["customer"]: row for row in tiny.rows("customers")}
        self.orders = {row["order"]: row for row in tiny.rows("orders")}
        self.supply = {(row["product"], row["period"]): row for row in tiny.rows("supply")}
        self.wafers_offered = {row["period"]: row["surplus_wafers"] for row in tiny.rows("foundry")}
        self.third_party = [
            c for c, row in self.customers.items() if row["segment"] == "third_party"
        ]
        self.ordered: dict[str, int] = defaultdict(int)
        for row in self.orders.values():
            self.ordered[row["customer"]] += row["racks"]
        # P(o): the order's own product at its price, then its substitutes at theirs
        self.options: dict[str, list[tuple[str, float]]] = {
            o: [(row["product"], row["price_per_rack"])] for o, row in self.orders.items()
        }
        for row in tiny.rows("substitutes"):
            self.options[row["order"]].append((row["product"], row["price_per_rack"]))
        # W(o, p) = max(r, available_from(p)) .. min(r + d, periods)
        self.window = {
            (o, p): range(
                max(row["period"], self.products[p]["available_from"]),
                min(row["period"] + row["max_delay"], tiny.periods) + 1,
            )
            for o, row in self.orders.items()
            for p, _price in self.options[o]
        }
        # m(o, p) = sum_s attach(c(o), s) * margin(s, p)
        margin = {
            (row["service"], row["product"]): row["margin_per_rack"]
            for row in tiny.rows("services")
        }
        self.unit_value = {
            (o, p): price
            + sum(
                attach["attach_rate"] * margin.get((attach["service"], p), 0.0)
                for attach in tiny.rows("attach")
                if attach["customer"] == row["customer"]
            )
            for o, row in self.orders.items()
            for p, price in self.options[o]
        }
        # where s may be > 0: t >= available_from(p) and surplus_max_racks > 0
        self.surplus_max = {
            (p, t): self.supply[p, t]["surplus_max_racks"]
            for p, row in self.products.items()
            for t in range(row["available_from"], tiny.periods + 1)
            if (p, t) in self.supply and self.supply[p, t]["surplus_max_racks"] > 0
        }

    def score(self, plan: Plan) -> float | None:
        """The objective of ``plan``, or None when it breaks a bound or a constraint."""
        if any(v < 0 or v != int(v) for v in (*plan.x.values(), *plan.s.values())):
            return None
        if any(
            racks and ((o, p) not in self.window or t not in self.window[o, p])
            for (o, p, t), racks in plan.x.items()
        ):
            return None
        if set(plan.y) - set(self.third_party) or any(
            plan.y.get(c, 0) not in (0, 1) for c in self.third_party
        ):
            return None
        shipped = self.ship_part(plan.x)
        if shipped is None:
            return None
        value, by_product, by_customer = shipped
        surplus = self.surplus_part(plan.s, by_product)
        deal = self.deal_part(plan.y, by_customer)
        if surplus is None or deal is None:
            return None
        return value + surplus + deal

    def ship_part(
        self, x: dict[tuple[str, str, int], int]
    ) -> tuple[float, dict[tuple[str, int], int], dict[str, int]] | None:
        """Ship value, (3), (4) with its penalty, (6), (7); also racks shipped per
        (product, period) and per customer. None when a constraint is broken."""
        value = 0.0
        by_product: dict[tuple[str, int], int] = defaultdict(int)
        by_order: dict[str, int] = defaultdict(int)
        by_customer: dict[str, int] = defaultdict(int)
        for (o, p, t), racks in x.items():
            row = self.orders[o]
            value += (self.unit_value[o, p] - row["delay_penalty"] * (t - row["period"])) * racks
            by_product[p, t] += racks
            by_order[o] += racks
            by_customer[row["customer"]] += racks
        # (3) order quantity
        if any(by_order[o] > row["racks"] + self.order_slack for o, row in self.orders.items()):
            return None
        # (4) internal fill: the least shortfall u = max(0, min_fill * Q - shipped)
        for c, row in self.customers.items():
            if row["segment"] == "internal":
                short = max(0.0, row["min_fill"] * self.ordered[c] - by_customer[c])
                if self.strict and short > TOL:
                    return None
                value -= self.tiny.penalty * short
        # (6) third-party share
        third_party = sum(by_customer[c] for c in self.third_party)
        if third_party > self.tiny.share * sum(by_customer.values()) + TOL:
            return None
        # (7) region power, cumulative up to the row's period
        for row in self.tiny.rows("regions"):
            used = sum(
                self.products[p]["power_kw"] * racks
                for (o, p, t), racks in x.items()
                if t <= row["period"]
                and self.customers[self.orders[o]["customer"]]["region"] == row["region"]
            )
            if used > row["power_kw"] + TOL:
                return None
        return value, by_product, by_customer

    def surplus_part(
        self, s: dict[tuple[str, int], int], shipped: dict[tuple[str, int], int]
    ) -> float | None:
        """s's bounds, (2), surplus cost, (1) with v >= 0 and holding cost."""
        if any(racks > self.surplus_max.get(key, 0) for key, racks in s.items()):
            return None  # includes surplus before available_from
        value = -sum(self.supply[key]["surplus_cost"] * racks for key, racks in s.items())
        for t in self.periods:
            wafers = sum(
                row["wafers_per_rack"] * s.get((p, t), 0) for p, row in self.products.items()
            )
            if wafers > self.wafers_offered.get(t, 0) + TOL:
                return None
        for p, row in self.products.items():
            stock = row["initial_inventory"]
            for t in self.periods:
                base = self.supply[p, t]["base_racks"] if (p, t) in self.supply else 0
                stock += base + s.get((p, t), 0) - shipped.get((p, t), 0)
                if stock < 0:
                    return None
                value -= row["holding_cost"] * stock
        return value

    def deal_part(self, y: dict[str, int], shipped: dict[str, int]) -> float | None:
        """(5) and onboarding cost."""
        value = 0.0
        for c in self.third_party:
            accepted = y.get(c, 0)
            low = self.customers[c]["min_contract_racks"] * accepted
            if not low <= shipped.get(c, 0) <= self.ordered[c] * accepted:
                return None
            value -= self.customers[c]["onboarding_cost"] * accepted
        return value

    # --- the plan space ----------------------------------------------------------------

    def x_choices(self) -> list[list[dict[tuple[str, str, int], int]]]:
        """Per order, every way to ship 0..q(o) racks over its products P(o) and their
        windows W(o, p)."""
        choices = []
        for o, row in self.orders.items():
            slots = [(p, t) for p, _price in self.options[o] for t in self.window[o, p]]
            most = row["racks"] + self.order_slack
            choices.append(
                [
                    {(o, p, t): racks for (p, t), racks in zip(slots, split, strict=True)}
                    for split in itertools.product(range(most + 1), repeat=len(slots))
                    if sum(split) <= most
                ]
            )
        return choices

    def s_choices(self) -> list[dict[tuple[str, int], int]]:
        keys = list(self.surplus_max)
        ranges = (range(self.surplus_max[key] + 1) for key in keys)
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*ranges)]

    def y_choices(self) -> list[dict[str, int]]:
        return [
            dict(zip(self.third_party, values, strict=True))
            for values in itertools.product((0, 1), repeat=len(self.third_party))
        ]


def score(tiny: Tiny, plan: Plan, *, strict: bool = False) -> float | None:
    """SPEC.md's objective of ``plan``, or None when it breaks a bound or a constraint."""
    return Model(tiny, strict=strict).score(plan)


def space_size(tiny: Tiny) -> int:
    """How many integer plans lie within the variables' bounds: |x| * |s| * |y|."""
    model = Model(tiny)
    x_count = math.prod(len(choices) for choices in model.x_choices())
    return x_count * len(model.s_choices()) * len(model.y_choices())


def unshippable_commitments(tiny: Tiny) -> list[str]:
    """Internal customers with committed racks (min_fill * Q > 0) but no order that can
    ship at all (every ship window empty): strict mode is infeasible for them."""
    model = Model(tiny)
    committed = {
        c: row["min_fill"] * model.ordered[c]
        for c, row in model.customers.items()
        if row["segment"] == "internal"
    }
    shippable = {model.orders[o]["customer"] for (o, _p), window in model.window.items() if window}
    return sorted(c for c, racks in committed.items() if racks > 0 and c not in shippable)


def enumerate_optimum(
    tiny: Tiny, *, strict: bool = False, order_slack: int = 0
) -> tuple[float, Plan] | None:
    """The best objective over every integer plan and one plan reaching it; None when no
    plan is feasible.

    Every x is tried; for each feasible x, every s and every y. Given x the objective is
    (x's part) + (s's part) + (y's part) with no constraint linking s and y, so the best
    plan with that x takes the best s and the best y: the same optimum as trying all
    |x| * |s| * |y| combinations, at the cost of |x| * (|s| + |y|).
    """
    model = Model(tiny, strict=strict, order_slack=order_slack)
    s_choices, y_choices = model.s_choices(), model.y_choices()
    best: tuple[float, Plan] | None = None
    for parts in itertools.product(*model.x_choices()):
        x = {key: racks for part in parts for key, racks in part.items()}
        shipped = model.ship_part(x)
        if shipped is None:
            continue
        value, by_product, by_customer = shipped
        surplus = _best(s_choices, model.surplus_part, by_product)
        deal = _best(y_choices, model.deal_part, by_customer)
        if surplus is None or deal is None:
            continue
        total = value + surplus[0] + deal[0]
        if best is None or total > best[0]:
            best = (total, Plan(x, surplus[1], deal[1]))
    return best


def _best(
    choices: list[Any], part: Callable[[Any, Any], float | None], shipped: Any
) -> tuple[float, Any] | None:
    """The best choice by ``part(choice, shipped)`` and its value; None if none is feasible."""
    best = None
    for choice in choices:
        value = part(choice, shipped)
        if value is not None and (best is None or value > best[0]):
            best = (value, choice)
    return best


def enumerate_optimum_naive(tiny: Tiny, *, strict: bool = False) -> float | None:
    """The best objective by scoring all |x| * |s| * |y| plans one by one (slow; checks
    `enumerate_optimum`)."""
    model = Model(tiny, strict=strict)
    s_choices, y_choices = model.s_choices(), model.y_choices()
    best: float | None = None
    for parts in itertools.product(*model.x_choices()):
        x = {key: racks for part in parts for key, racks in part.items()}
        for s in s_choices:
            for y in y_choices:
                value = model.score(Plan(x, s, y))
                if value is not None and (best is None or value > best):
                    best = value
    return best


# --- which constraints bind at a plan ---------------------------------------------------


def tight_families(tiny: Tiny, plan: Plan) -> set[str]:
    """The families of `FAMILIES` with a row that holds with equality at ``plan`` in a
    way that limits it (a row reading 0 <= 0 for lack of anything to limit does not):

    * stock_balance: v[p,t] = 0 where initial stock, base and surplus racks up to t > 0;
    * foundry_surplus: wafers used = wafers offered > 0;
    * order_quantity: an order ships all of q(o);
    * internal_fill: a committed customer falls short (u[c] > 0);
    * third_party_deal: an accepted deal ships exactly its minimum contract (> 0);
    * third_party_share: 0 < third-party racks = share * all racks, share < 1;
    * region_power: kW delivered up to t = the row's power_kw > 0.
    """
    model = Model(tiny)
    tight: set[str] = set()
    shipped_product: dict[tuple[str, int], int] = defaultdict(int)
    shipped_order: dict[str, int] = defaultdict(int)
    shipped_customer: dict[str, int] = defaultdict(int)
    for (o, p, t), racks in plan.x.items():
        row = model.orders[o]
        shipped_product[p, t] += racks
        shipped_order[o] += racks
        shipped_customer[row["customer"]] += racks
    for p, row in model.products.items():
        stock = inflow = row["initial_inventory"]
        for t in model.periods:
            base = model.supply[p, t]["base_racks"] if (p, t) in model.supply else 0
            inflow += base + plan.s.get((p, t), 0)
            stock += base + plan.s.get((p, t), 0) - shipped_product[p, t]
            if stock == 0 and inflow > 0:
                tight.add("stock_balance")
    for t in model.periods:
        used = sum(
            row["wafers_per_rack"] * plan.s.get((p, t), 0) for p, row in model.products.items()
        )
        if used > 0 and abs(used - model.wafers_offered.get(t, 0)) < TOL:
            tight.add("foundry_surplus")
    if any(shipped_order[o] == row["racks"] for o, row in model.orders.items()):
        tight.add("order_quantity")
    for c, row in model.customers.items():
        if row["segment"] == "internal":
            if row["min_fill"] * model.ordered[c] - shipped_customer[c] > TOL:
                tight.add("internal_fill")
        elif plan.y.get(c, 0) == 1 and 0 < row["min_contract_racks"] == shipped_customer[c]:
            tight.add("third_party_deal")
    third_party = sum(shipped_customer[c] for c in model.third_party)
    total = sum(shipped_customer.values())
    if tiny.share < 1 and third_party > 0 and abs(third_party - tiny.share * total) < TOL:
        tight.add("third_party_share")
    if tight_power_rows(tiny, plan):
        tight.add("region_power")
    return tight


def power_used(tiny: Tiny, plan: Plan, region: str, period: int, *, before: bool = False) -> float:
    """kW delivered to ``region`` in periods <= ``period`` (< with ``before``)."""
    model = Model(tiny)
    return sum(
        model.products[p]["power_kw"] * racks
        for (o, p, t), racks in plan.x.items()
        if (t < period if before else t <= period)
        and model.customers[model.orders[o]["customer"]]["region"] == region
    )


def tight_power_rows(tiny: Tiny, plan: Plan) -> list[dict]:
    """The regions.csv rows with power_kw > 0 that ``plan`` uses up."""
    return [
        row
        for row in tiny.rows("regions")
        if row["power_kw"] > 0
        and abs(power_used(tiny, plan, row["region"], row["period"]) - row["power_kw"]) < TOL
    ]


def loosened(tiny: Tiny, family: str) -> tuple[Tiny, int]:
    """``tiny`` with ``family``'s limit raised or removed, and the order slack to
    enumerate it with: stock_balance one more rack of every product in stock at the start;
    foundry_surplus 1,000 wafers a period; order_quantity one rack more per order;
    internal_fill min_fill 0; third_party_deal minimum contracts 0; third_party_share
    share 1; region_power no rows."""
    loose = Tiny(tiny.periods, tiny.share, tiny.penalty, dict(tiny.tables), tiny.write_regions)

    def each(name: str, **changes: object) -> list[dict]:
        return [{**row, **changes} for row in tiny.rows(name)]

    if family == "stock_balance":
        loose.tables["products"] = [
            {**row, "initial_inventory": row["initial_inventory"] + 1}
            for row in tiny.rows("products")
        ]
    elif family == "foundry_surplus":
        loose.tables["foundry"] = [
            {"period": t, "surplus_wafers": 1000} for t in range(1, tiny.periods + 1)
        ]
    elif family == "order_quantity":
        return loose, 1
    elif family == "internal_fill":
        loose.tables["customers"] = each("customers", min_fill=0)
    elif family == "third_party_deal":
        loose.tables["customers"] = each("customers", min_contract_racks=0)
    elif family == "third_party_share":
        loose.share = 1.0
    elif family == "region_power":
        loose.tables["regions"] = []
    else:
        raise ValueError(family)
    return loose, 0


def binding_families(tiny: Tiny, optimum: float) -> set[str]:
    """The families whose loosening (`loosened`) raises the enumerated optimum."""
    binding = set()
    for family in FAMILIES:
        loose, slack = loosened(tiny, family)
        better = enumerate_optimum(loose, order_slack=slack)
        if better is not None and better[0] > optimum + 1e-6:
            binding.add(family)
    return binding
