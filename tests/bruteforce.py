"""Random tiny instances and an exhaustive enumerator of their plans, for cross-checking the MIP.

Nothing here imports allocator: a `Tiny` instance is plain Python rows (the same rows
`write` puts into the CSV files), and `score` / `enumerate_optimum` implement SPEC.md's
model directly from those rows. A plan is three dicts: ``x[(order, period)]`` racks
shipped, ``s[(product, period)]`` surplus racks, ``y[customer]`` deal accepted (0/1).
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
min_fill times racks) is a multiple of 1/10 in generated data, so a plan is clearly
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
}


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


def random_tiny(seed: int, *, max_plans: int = MAX_PLANS) -> Tiny:
    """A random valid instance whose plan space has at most ``max_plans`` plans."""
    rng = random.Random(seed)
    while True:
        tiny = _draw(rng)
        if space_size(tiny) <= max_plans:
            return tiny


def _draw(rng: random.Random) -> Tiny:
    periods = rng.randint(1, 3)
    tiny = Tiny(
        periods=periods,
        share=rng.choice([0.0, 0.3, 0.5, 1.0, 1.0]),
        penalty=rng.choice([0.0, 100.0, 1000.0, 20000.0, 2.0e7]),
    )
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
                "min_fill": rng.choice([0, 0.3, 0.5, 1]) if internal else 0,
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
    services = [f"svc{i}" for i in range(1, rng.randint(0, 2) + 1)]
    tiny.tables["services"] = [
        {"service": service, "product": p, "margin_per_rack": rng.randint(0, 5) * 50}
        for service in services
        for p in products
        if p == products[-1] or rng.random() < 0.7  # every service has a row
    ]
    tiny.tables["attach"] = [
        {
            "customer": c["customer"],
            "service": service,
            "attach_rate": rng.choice([0, 0.25, 0.5, 0.9, 1]),
        }
        for c in customers
        for service in services
        if rng.random() < 0.6
    ]
    tiny.write_regions = rng.random() < 0.7
    tiny.tables["regions"] = [
        {"region": g, "period": t, "power_kw": rng.choice([0, 1, 2, 3, 4.5, 6])}
        for g in ("r1", "r2")
        for t in range(1, periods + 1)
        if tiny.write_regions and rng.random() < 0.4
    ]
    return tiny


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
        lines = [",".join(columns)]
        lines += [",".join(str(row[column]) for column in columns) for row in tiny.rows(name)]
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


# --- the model, straight from SPEC.md ---------------------------------------------------


@dataclass(frozen=True)
class Plan:
    x: dict[tuple[str, int], int]
    s: dict[tuple[str, int], int]
    y: dict[str, int]


class Model:
    """SPEC.md's constraints and objective over one `Tiny`, split by the variables each
    term reads: `ship_part` (x), `surplus_part` (s, given what x ships of each product)
    and `deal_part` (y, given what x ships to each customer). Given x, the s and y parts
    are independent, which `enumerate_optimum` uses."""

    def __init__(self, tiny: Tiny, *, strict: bool = False) -> None:
        self.tiny = tiny
        self.strict = strict
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
        # W(o) = max(r, available_from(p)) .. min(r + d, periods)
        self.window = {
            o: range(
                max(row["period"], self.products[row["product"]]["available_from"]),
                min(row["period"] + row["max_delay"], tiny.periods) + 1,
            )
            for o, row in self.orders.items()
        }
        # m(o) = sum_s attach(c(o), s) * margin(s, p(o))
        margin = {
            (row["service"], row["product"]): row["margin_per_rack"]
            for row in tiny.rows("services")
        }
        self.unit_value = {
            o: row["price_per_rack"]
            + sum(
                attach["attach_rate"] * margin.get((attach["service"], row["product"]), 0.0)
                for attach in tiny.rows("attach")
                if attach["customer"] == row["customer"]
            )
            for o, row in self.orders.items()
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
        if any(racks and t not in self.window[o] for (o, t), racks in plan.x.items()):
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
        self, x: dict[tuple[str, int], int]
    ) -> tuple[float, dict[tuple[str, int], int], dict[str, int]] | None:
        """Ship value, (3), (4) with its penalty, (6), (7); also racks shipped per
        (product, period) and per customer. None when a constraint is broken."""
        value = 0.0
        by_product: dict[tuple[str, int], int] = defaultdict(int)
        by_order: dict[str, int] = defaultdict(int)
        by_customer: dict[str, int] = defaultdict(int)
        for (o, t), racks in x.items():
            row = self.orders[o]
            value += (self.unit_value[o] - row["delay_penalty"] * (t - row["period"])) * racks
            by_product[row["product"], t] += racks
            by_order[o] += racks
            by_customer[row["customer"]] += racks
        # (3) order quantity
        if any(by_order[o] > row["racks"] for o, row in self.orders.items()):
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
                self.products[self.orders[o]["product"]]["power_kw"] * racks
                for (o, t), racks in x.items()
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

    def x_choices(self) -> list[list[dict[tuple[str, int], int]]]:
        """Per order, every way to ship 0..q(o) racks over W(o)."""
        choices = []
        for o, row in self.orders.items():
            periods = list(self.window[o])
            choices.append(
                [
                    {(o, t): racks for t, racks in zip(periods, split, strict=True)}
                    for split in itertools.product(range(row["racks"] + 1), repeat=len(periods))
                    if sum(split) <= row["racks"]
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
    shippable = {row["customer"] for o, row in model.orders.items() if model.window[o]}
    return sorted(c for c, racks in committed.items() if racks > 0 and c not in shippable)


def enumerate_optimum(tiny: Tiny, *, strict: bool = False) -> tuple[float, Plan] | None:
    """The best objective over every integer plan and one plan reaching it; None when no
    plan is feasible.

    Every x is tried; for each feasible x, every s and every y. Given x the objective is
    (x's part) + (s's part) + (y's part) with no constraint linking s and y, so the best
    plan with that x takes the best s and the best y: the same optimum as trying all
    |x| * |s| * |y| combinations, at the cost of |x| * (|s| + |y|).
    """
    model = Model(tiny, strict=strict)
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
