"""Synthetic instance generator: writes a complete, valid instance folder.

Everything here is SYNTHETIC. The magnitudes are modelled on public orders of
magnitude for an AI-accelerator rack business of roughly $50B a year (racks of $3-6M,
a few hundred racks a month per large cloud region); no figure is real data.

What one call makes (``generate_instance(out_dir, regions=R, buyers=B, periods=T,
seed=S)``):

* two products: ``trainium`` (ships from period 1, 2 wafers and 120 kW per rack) and
  ``trainium4`` (ships from ``next_gen_from``, by default 13 when ``T >= 13``, else
  ``T // 2 + 1``; 3 wafers and 180 kW per rack);
* ``R`` internal customers named like cloud regions (``aws-us-east-1``, ...), each
  with a committed min fill in [0.5, 0.8] and a cumulative power limit per period
  (``regions.csv``) that falls short of the committed fill in a few regions (a
  quarter of them, at most four);
* ``B`` third-party buyers (``dc-buyer-001``, ...) in shared colocation regions, each
  with a one-time onboarding cost ($1-20M) and a minimum contract size;
* orders: an internal customer orders in 75% of the eligible periods of each product,
  a buyer in 40%; ``trainium4`` orders start 3 periods before the product ships, so
  some ship windows are empty; max delay 0-3 periods at a few % of price per period;
* base supply is set so that demand is about 1.6-2.3 times base supply (sold out);
  the foundry offers surplus wafers in about half the periods, at a premium that is
  sometimes worth paying;
* four services (storage, security, networking, monitoring) with lifetime margins of
  $0.2-1.5M per rack; internal regions attach 85-100% of them, buyers 10-60%.

Size. The MIP has one integer ``x[o, t]`` per order and period of its ship window,
``s`` and ``v`` per product and period, one ``y`` or ``u`` per customer, so::

    variables ~= orders * mean_window + 4 * T + R + B
    orders    ~= (0.75 * R + 0.40 * B) * (2 * T - a4 + 4)      (a4 = trainium4 start)
    mean_window ~= 2.2-2.3 (max delay 0-3, cut at the horizon and before a4)

``estimate_variables(R, B, T)`` computes this exactly in expectation (within a few %).
Sizes used in practice (default ``next_gen_from``; measured variables, generation
time on one core):

====================================  ==========  ==========
regions, buyers, periods              variables   generation
====================================  ==========  ==========
7, 14, 24                             ~1,000      < 0.1 s
12, 30, 24 (``base-2027``)            ~1,900      < 0.1 s
40, 160, 48                           ~19,000     < 0.1 s
150, 1300, 72                         ~200,000    ~0.3 s
450, 7000, 72                         ~1,000,000  ~2 s
====================================  ==========  ==========

Large instances are easiest to solve when grown mainly through buyers: every region
adds ``periods`` cumulative power rows whose length grows with the period.

The same arguments always give byte-identical files: all randomness comes from
``numpy.random.default_rng(seed)`` drawn in a fixed order, and every number is written
with a fixed format (integers as integers, money with 2 decimals).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from allocator.atomic import publish_folder
from allocator.data.generate_profile import (
    COLO_REGIONS,
    INTERNAL_RACKS_PER_ORDER,
    INTERNAL_SHORTFALL_PENALTY,
    MAX_DELAY_PROBS,
    PRODUCTS,
    SERVICES,
    THIRD_PARTY_MAX_SHARE,
    THIRD_PARTY_RACKS_PER_ORDER,
    available_from_of,
    demand_trend,
    next_gen_start,
    order_counts,
    region_names,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _round_money(values: FloatArray, step: float) -> FloatArray:
    rounded: FloatArray = np.round(values / step) * step
    return rounded


def _fmt(values: npt.ArrayLike, fmt: str) -> list[str]:
    return [fmt % v for v in np.asarray(values).tolist()]


def _ints(values: npt.ArrayLike) -> list[str]:
    return [str(int(v)) for v in np.asarray(values).tolist()]


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (inside the folder being filled)."""
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def _write_csv(path: Path, columns: dict[str, list[str]]) -> None:
    frame = pd.DataFrame(columns)
    _write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def _toml_string(value: str) -> str:
    out = ['"']
    for char in value:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _check_arguments(regions: int, buyers: int, periods: int, start: str, gen: int) -> None:
    if regions < 0 or buyers < 0 or regions + buyers < 1:
        raise ValueError("need regions >= 0, buyers >= 0 and at least one customer")
    if periods < 1:
        raise ValueError(f"periods must be >= 1, got {periods}")
    if not 1 <= gen <= periods:
        raise ValueError(f"next_gen_from must be in 1..{periods}, got {gen}")
    if not re.fullmatch(r"\d{4}-\d{2}", start):
        raise ValueError(f"start must look like YYYY-MM, got {start!r}")


def generate_instance(
    out_dir: Path,
    *,
    regions: int,
    buyers: int,
    periods: int,
    seed: int,
    name: str | None = None,
    start: str = "2027-01",
    next_gen_from: int | None = None,
    substitute_share: float = 0.0,
) -> Path:
    """Write a synthetic instance into ``out_dir`` and return ``out_dir``.

    ``regions`` internal cloud regions, ``buyers`` third-party buyers, ``periods``
    monthly periods labelled from ``start``; ``trainium4`` ships from ``next_gen_from``
    (default: see ``next_gen_start``). The folder is written whole (`publish_folder`):
    it may be new, empty, or an instance allocator generated before; never a folder of
    other files. Same arguments, same bytes.

    ``substitute_share`` (0..1) of the orders may also be served with the other
    generation (`_substitutes`); 0 writes no substitutes.csv and draws nothing more, so
    the other files are the same with or without it.
    """
    gen = next_gen_start(periods, next_gen_from)
    _check_arguments(regions, buyers, periods, start, gen)
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    if name is None:
        name = f"synthetic-r{regions}-b{buyers}-t{periods}-s{seed}"

    n_products = len(PRODUCTS)
    n_customers = regions + buyers
    is_internal = np.arange(n_customers) < regions

    # ---- customers -----------------------------------------------------------------
    internal_names = region_names(regions)
    width = max(3, len(str(buyers)))
    buyer_names = [f"dc-buyer-{i + 1:0{width}d}" for i in range(buyers)]
    customer_names = internal_names + buyer_names

    # Size weights: a few large regions/buyers and a long tail.
    rank = np.concatenate([np.arange(regions), np.arange(buyers)]).astype(np.float64)
    weight = (rank + 1.0) ** -0.35 * rng.lognormal(0.0, 0.30, n_customers)
    # Mean weight 1 within each segment, so the per-order sizes above are the means.
    for segment in (is_internal, ~is_internal):
        if segment.any():
            weight[segment] /= weight[segment].mean()
    # Price level of a customer within its product's range, in [0, 1].
    price_level = rng.beta(2.0, 2.0, n_customers)
    min_fill = np.where(is_internal, np.round(rng.uniform(0.5, 0.8, n_customers), 2), 0.0)
    onboarding = np.where(
        is_internal,
        0.0,
        _round_money(np.clip(rng.lognormal(np.log(5.0e6), 0.8, n_customers), 1.0e6, 2.0e7), 1.0e4),
    )
    colo = rng.integers(0, len(COLO_REGIONS), n_customers)
    customer_region = [
        customer_names[i] if i < regions else COLO_REGIONS[int(colo[i])] for i in range(n_customers)
    ]

    # ---- orders ----------------------------------------------------------------------
    counts = order_counts(periods, gen)
    delay_values = np.arange(len(MAX_DELAY_PROBS))
    order_customer: list[IntArray] = []
    order_product: list[IntArray] = []
    order_period: list[IntArray] = []
    for index, (first, n_internal, n_third_party) in enumerate(counts):
        eligible = periods - first + 1
        for lo, hi, n_orders in ((0, regions, n_internal), (regions, n_customers, n_third_party)):
            if hi <= lo:
                continue
            # Each customer orders in n_orders distinct eligible periods, chosen at random.
            keys = rng.random((hi - lo, eligible))
            chosen = np.sort(np.argsort(keys, axis=1, kind="stable")[:, :n_orders], axis=1)
            order_customer.append(np.repeat(np.arange(lo, hi, dtype=np.int64), n_orders))
            order_product.append(np.full((hi - lo) * n_orders, index, dtype=np.int64))
            order_period.append((chosen + first).astype(np.int64).ravel())
    cust = np.concatenate(order_customer)
    prod = np.concatenate(order_product)
    per = np.concatenate(order_period)
    sort = np.lexsort((per, prod, cust))
    cust, prod, per = cust[sort], prod[sort], per[sort]
    n_orders_total = cust.size
    internal_order = is_internal[cust]

    trends = np.stack([demand_trend(i, periods, gen) for i in range(n_products)])
    mean_racks = np.where(internal_order, INTERNAL_RACKS_PER_ORDER, THIRD_PARTY_RACKS_PER_ORDER)
    racks_float = mean_racks * weight[cust] * trends[prod, per]
    racks = np.maximum(1, np.round(racks_float * rng.lognormal(-0.06, 0.35, n_orders_total)))

    lo_int = np.array([p.internal_price_range[0] for p in PRODUCTS])
    hi_int = np.array([p.internal_price_range[1] for p in PRODUCTS])
    lo_tp = np.array([p.third_party_price_range[0] for p in PRODUCTS])
    hi_tp = np.array([p.third_party_price_range[1] for p in PRODUCTS])
    price_lo = np.where(internal_order, lo_int[prod], lo_tp[prod])
    price_hi = np.where(internal_order, hi_int[prod], hi_tp[prod])
    level = np.clip(price_level[cust] + rng.normal(0.0, 0.12, n_orders_total), 0.0, 1.0)
    price = _round_money(price_lo + level * (price_hi - price_lo), 1.0e3)
    max_delay = rng.choice(delay_values, size=n_orders_total, p=np.array(MAX_DELAY_PROBS))
    delay_penalty = _round_money(price * rng.uniform(0.01, 0.05, n_orders_total), 1.0e2)

    # ---- supply ----------------------------------------------------------------------
    # Expected demand per product and request period, from the order pattern.
    order_share = np.zeros((n_products, n_customers))
    for index, (first, n_internal, n_third_party) in enumerate(counts):
        eligible = periods - first + 1
        order_share[index] = np.where(is_internal, n_internal, n_third_party) / eligible
    cust_mean = np.where(is_internal, INTERNAL_RACKS_PER_ORDER, THIRD_PARTY_RACKS_PER_ORDER)
    expected = (order_share * cust_mean * weight).sum(axis=1)[:, None] * trends[:, 1:]
    available = np.array([available_from_of(i, gen) for i in range(n_products)])
    period_idx = np.arange(1, periods + 1)
    shippable = period_idx[None, :] >= available[:, None]
    demand_to_supply = rng.uniform(1.6, 2.3, (n_products, periods))
    base_racks = np.where(shippable, np.round(expected / demand_to_supply), 0).astype(np.int64)
    surplus_max = np.where(
        shippable, np.round(base_racks * rng.uniform(0.10, 0.25, (n_products, periods))), 0
    ).astype(np.int64)
    lo_sc = np.array([p.surplus_cost_range[0] for p in PRODUCTS])[:, None]
    hi_sc = np.array([p.surplus_cost_range[1] for p in PRODUCTS])[:, None]
    surplus_cost = _round_money(rng.uniform(lo_sc, hi_sc, (n_products, periods)), 1.0e3)
    surplus_cost = np.where(shippable, surplus_cost, 0.0)
    wafers = np.array([p.wafers_per_rack for p in PRODUCTS])
    offered = rng.random(periods) < 0.5
    wafer_share = rng.uniform(0.05, 0.20, periods)
    surplus_wafers = np.where(
        offered, np.round(wafer_share * (wafers[:, None] * base_racks).sum(axis=0)), 0
    ).astype(np.int64)
    holding_cost = np.array(
        [_round_money(np.array(rng.uniform(*p.holding_cost_range)), 1.0e2) for p in PRODUCTS]
    )
    initial_inventory = np.zeros(n_products, dtype=np.int64)
    initial_inventory[0] = np.round(0.03 * base_racks[0, 0])

    # ---- services --------------------------------------------------------------------
    margin_jitter = rng.uniform(0.85, 1.15, (len(SERVICES), n_products))
    margins = _round_money(np.array([p.service_margin for p in PRODUCTS]).T * margin_jitter, 1.0e3)
    attach = np.where(
        is_internal[:, None],
        rng.uniform(0.85, 1.0, (n_customers, len(SERVICES))),
        rng.uniform(0.10, 0.60, (n_customers, len(SERVICES))),
    )
    attach = np.round(attach, 2)

    # ---- third-party contract sizes --------------------------------------------------
    total_racks = np.bincount(cust, weights=racks, minlength=n_customers)
    min_contract = np.where(
        is_internal,
        0,
        np.clip(np.round(total_racks * rng.uniform(0.02, 0.12, n_customers)), 3, 80),
    )
    min_contract = np.minimum(min_contract, total_racks).astype(np.int64)

    # ---- region power ----------------------------------------------------------------
    power = np.array([p.power_kw for p in PRODUCTS])
    region_power = np.zeros((regions, periods))
    if regions:
        power_per_period = np.zeros((regions, periods))
        mask = internal_order
        np.add.at(
            power_per_period,
            (cust[mask], per[mask] - 1),
            racks[mask] * power[prod[mask]],
        )
        cumulative = np.cumsum(power_per_period, axis=1)
        # A few regions (a quarter, at most four) are short of power.
        tight = np.zeros(regions, dtype=bool)
        tight[rng.permutation(regions)[: min(4, max(1, round(0.25 * regions)))]] = True
        factor = np.where(
            tight,
            min_fill[:regions] * rng.uniform(0.70, 0.95, regions),
            rng.uniform(1.1, 1.5, regions),
        )
        # Capacity comes in blocks every 3-6 periods, each built for demand until the next.
        for g in range(regions):
            step = int(rng.integers(3, 7))
            for block_start in range(0, periods, step):
                cover_until = min(block_start + step, periods) - 1
                region_power[g, block_start : block_start + step] = cumulative[g, cover_until]
            region_power[g] *= factor[g]
        region_power = np.round(region_power, 0)

    substitutes = _substitutes(seed, substitute_share, prod, price, max_delay, periods)

    # ---- write -----------------------------------------------------------------------
    def fill(folder: Path) -> None:
        product_names = [p.name for p in PRODUCTS]
        order_width = max(6, len(str(n_orders_total)))
        _write_text(
            folder / "instance.toml",
            f"name = {_toml_string(name)}\n"
            f"periods = {periods}\n"
            f"start = {_toml_string(start)}\n"
            'currency = "USD"\n'
            "\n[policy]\n"
            f"third_party_max_share = {THIRD_PARTY_MAX_SHARE}\n"
            f"internal_shortfall_penalty = {INTERNAL_SHORTFALL_PENALTY!r}\n",
        )
        _write_csv(
            folder / "products.csv",
            {
                "product": product_names,
                "available_from": _ints(available),
                "wafers_per_rack": _fmt(wafers, "%.2f"),
                "power_kw": _fmt(power, "%.1f"),
                "holding_cost": _fmt(holding_cost, "%.2f"),
                "initial_inventory": _ints(initial_inventory),
            },
        )
        _write_csv(
            folder / "supply.csv",
            {
                "product": [n for n in product_names for _ in range(periods)],
                "period": _ints(np.tile(period_idx, n_products)),
                "base_racks": _ints(base_racks.ravel()),
                "surplus_max_racks": _ints(surplus_max.ravel()),
                "surplus_cost": _fmt(surplus_cost.ravel(), "%.2f"),
            },
        )
        _write_csv(
            folder / "foundry.csv",
            {"period": _ints(period_idx), "surplus_wafers": _ints(surplus_wafers)},
        )
        _write_csv(
            folder / "customers.csv",
            {
                "customer": customer_names,
                "segment": [
                    "internal" if i < regions else "third_party" for i in range(n_customers)
                ],
                "region": customer_region,
                "min_fill": _fmt(min_fill, "%.2f"),
                "onboarding_cost": _fmt(onboarding, "%.2f"),
                "min_contract_racks": _ints(min_contract),
            },
        )
        names = np.array(customer_names, dtype=object)
        _write_csv(
            folder / "orders.csv",
            {
                "order": [f"o{i + 1:0{order_width}d}" for i in range(n_orders_total)],
                "customer": names[cust].tolist(),
                "product": np.array(product_names, dtype=object)[prod].tolist(),
                "period": _ints(per),
                "racks": _ints(racks),
                "price_per_rack": _fmt(price, "%.2f"),
                "max_delay": _ints(max_delay),
                "delay_penalty": _fmt(delay_penalty, "%.2f"),
            },
        )
        _write_csv(
            folder / "services.csv",
            {
                "service": [s for s in SERVICES for _ in range(n_products)],
                "product": product_names * len(SERVICES),
                "margin_per_rack": _fmt(margins.ravel(), "%.2f"),
            },
        )
        _write_csv(
            folder / "attach.csv",
            {
                "customer": [c for c in customer_names for _ in SERVICES],
                "service": list(SERVICES) * n_customers,
                "attach_rate": _fmt(attach.ravel(), "%.2f"),
            },
        )
        _write_csv(
            folder / "regions.csv",
            {
                "region": [r for r in internal_names for _ in range(periods)],
                "period": _ints(np.tile(period_idx, regions)),
                "power_kw": _fmt(region_power.ravel(), "%.1f"),
            },
        )
        if len(substitutes["order_index"]):
            _write_csv(
                folder / "substitutes.csv",
                {
                    "order": [f"o{i + 1:0{order_width}d}" for i in substitutes["order_index"]],
                    "product": np.array(product_names, dtype=object)[
                        substitutes["product_index"]
                    ].tolist(),
                    "price_per_rack": _fmt(substitutes["price"], "%.2f"),
                },
            )

    return publish_folder(out_dir, fill, what="generate OUT")


def _substitutes(
    seed: int,
    share: float,
    product: IntArray,
    price: FloatArray,
    max_delay: IntArray,
    periods: int,
) -> dict[str, np.ndarray]:
    """Which orders may take the other generation, and at what price: ``share`` of the
    orders, drawn from a stream of their own (the rest of the instance does not change).
    A Trainium order may wait for Trainium4 (worth 5-30% more to the customer); a
    Trainium4 order may take Trainium now (at 70-90% of its price). Their ``max_delay``
    grows by 3-9 periods (in place), so that waiting for the next generation is a real
    choice."""
    none = {"order_index": np.zeros(0, dtype=np.int64)}
    if share <= 0:
        return none | {"product_index": none["order_index"], "price": np.zeros(0)}
    rng = np.random.default_rng([seed, 1])
    chosen = np.flatnonzero(rng.random(product.size) < share)
    other = 1 - product[chosen]
    factor = np.where(
        product[chosen] == 0,
        rng.uniform(1.05, 1.30, chosen.size),
        rng.uniform(0.70, 0.90, chosen.size),
    )
    max_delay[chosen] = np.minimum(max_delay[chosen] + rng.integers(3, 10, chosen.size), periods)
    return {
        "order_index": chosen.astype(np.int64),
        "product_index": other.astype(np.int64),
        "price": _round_money(price[chosen] * factor, 1.0e3),
    }
