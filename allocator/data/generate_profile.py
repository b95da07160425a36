"""The synthetic business the instance generator draws from, and the size it makes.

Products, services, names, the order pattern and demand trends.

Everything here is SYNTHETIC (see `allocator.data.generate`); no figure is real data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

THIRD_PARTY_MAX_SHARE = 0.35
INTERNAL_SHORTFALL_PENALTY = 2.0e7

# Order pattern: share of eligible request periods in which a customer orders.
INTERNAL_ORDER_FRACTION = 0.75
THIRD_PARTY_ORDER_FRACTION = 0.40
# Next-generation orders may be requested this many periods before it ships.
NEXT_GEN_EARLY_PERIODS = 3
# max_delay in 0..3 with these probabilities.
MAX_DELAY_PROBS: tuple[float, ...] = (0.25, 0.30, 0.25, 0.20)

# Mean racks of one order of a customer of weight 1, before trend factors.
INTERNAL_RACKS_PER_ORDER = 60.0
THIRD_PARTY_RACKS_PER_ORDER = 48.0


@dataclass(frozen=True)
class Product:
    name: str
    wafers_per_rack: float
    power_kw: float
    holding_cost_range: tuple[float, float]
    internal_price_range: tuple[float, float]
    third_party_price_range: tuple[float, float]
    surplus_cost_range: tuple[float, float]
    service_margin: tuple[float, ...]  # per service, in SERVICES order


SERVICES: tuple[str, ...] = ("storage", "security", "networking", "monitoring")

PRODUCTS: tuple[Product, ...] = (
    Product(
        name="trainium",
        wafers_per_rack=2.0,
        power_kw=120.0,
        holding_cost_range=(15_000.0, 30_000.0),
        internal_price_range=(3.0e6, 4.6e6),
        third_party_price_range=(4.6e6, 6.2e6),
        surplus_cost_range=(4.0e6, 6.2e6),
        service_margin=(0.55e6, 0.30e6, 0.85e6, 0.20e6),
    ),
    Product(
        name="trainium4",
        wafers_per_rack=3.0,
        power_kw=180.0,
        holding_cost_range=(30_000.0, 50_000.0),
        internal_price_range=(4.0e6, 5.8e6),
        third_party_price_range=(5.4e6, 7.0e6),
        surplus_cost_range=(5.2e6, 7.8e6),
        service_margin=(0.80e6, 0.40e6, 1.30e6, 0.30e6),
    ),
)

# Region names in the order they are handed out (largest first); more names are made
# by raising the number (aws-us-east-11, aws-us-east-21, ...).
AWS_REGIONS: tuple[str, ...] = (
    "us-east-1", "us-west-2", "eu-west-1", "us-east-2", "eu-central-1",
    "ap-northeast-1", "ap-southeast-2", "ap-south-1", "eu-north-1", "ca-central-1",
    "sa-east-1", "ap-southeast-1", "eu-west-2", "ap-northeast-2", "us-west-1",
    "eu-west-3", "eu-south-1", "ap-east-1", "me-south-1", "af-south-1",
    "ap-northeast-3", "ap-southeast-3", "me-central-1", "eu-central-2", "eu-south-2",
    "ap-south-2", "ap-southeast-4", "il-central-1", "ca-west-1", "mx-central-1",
)  # fmt: skip

COLO_REGIONS: tuple[str, ...] = (
    "colo-ashburn", "colo-dallas", "colo-phoenix", "colo-silicon-valley",
    "colo-chicago", "colo-frankfurt", "colo-amsterdam", "colo-singapore",
    "colo-tokyo", "colo-sydney",
)  # fmt: skip


def next_gen_start(periods: int, next_gen_from: int | None = None) -> int:
    """First period ``trainium4`` can ship: ``next_gen_from`` or the default."""
    if next_gen_from is not None:
        return next_gen_from
    return 13 if periods >= 13 else max(1, periods // 2 + 1)


def region_names(count: int) -> list[str]:
    """``count`` distinct internal customer names like ``aws-us-east-1``."""
    names: list[str] = []
    for i in range(count):
        area, _, number = AWS_REGIONS[i % len(AWS_REGIONS)].rpartition("-")
        bump = 10 * (i // len(AWS_REGIONS))
        names.append(f"aws-{area}-{int(number) + bump}")
    return names


def order_counts(periods: int, next_gen_from: int) -> list[tuple[int, int, int]]:
    """Per product: (first eligible request period, internal orders, buyer orders)."""
    counts: list[tuple[int, int, int]] = []
    for index in range(len(PRODUCTS)):
        first = 1 if index == 0 else max(1, next_gen_from - NEXT_GEN_EARLY_PERIODS)
        eligible = periods - first + 1
        internal = max(1, round(INTERNAL_ORDER_FRACTION * eligible))
        third_party = max(1, round(THIRD_PARTY_ORDER_FRACTION * eligible))
        counts.append((first, internal, third_party))
    return counts


def available_from_of(index: int, next_gen_from: int) -> int:
    return 1 if index == 0 else next_gen_from


def mean_window(first: int, available_from: int, periods: int) -> float:
    """Expected ship-window length of an order requested uniformly in first..periods."""
    total = 0.0
    for requested in range(first, periods + 1):
        for delay, prob in enumerate(MAX_DELAY_PROBS):
            length = min(requested + delay, periods) - max(requested, available_from) + 1
            total += prob * max(0, length)
    return total / (periods - first + 1)


def estimate_variables(
    regions: int, buyers: int, periods: int, next_gen_from: int | None = None
) -> int:
    """Expected number of MIP variables of ``generate_instance`` with these sizes.

    Counts ``x`` over all ship windows, ``s`` and ``v`` per product and period, and one
    ``y`` or ``u`` per customer. Order counts are exact; only window lengths are random.
    """
    start = next_gen_start(periods, next_gen_from)
    total = 2.0 * len(PRODUCTS) * periods + regions + buyers
    for index, (first, internal, third_party) in enumerate(order_counts(periods, start)):
        window = mean_window(first, available_from_of(index, start), periods)
        total += (internal * regions + third_party * buyers) * window
    return round(total)


def demand_trend(index: int, periods: int, next_gen_from: int) -> FloatArray:
    """Relative demand per request period (1-based, index 0 unused) of product ``index``."""
    t = np.arange(periods + 1, dtype=np.float64)
    growth = 1.0 + 0.015 * (t - 1.0)
    if index == 0:
        # Current generation: steady, then fading towards a floor once the next ships.
        after = np.clip(t - next_gen_from + 1.0, 0.0, None)
        fade = np.where(t >= next_gen_from, np.maximum(0.35, 0.85 * 0.93**after), 1.0)
        return growth * fade
    # Next generation: early interest, then a ramp up after it ships.
    ramp = np.clip(0.45 + 0.12 * (t - next_gen_from), 0.45, 1.4)
    return growth * ramp
