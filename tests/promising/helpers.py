"""Hand-made tiny instances for the promise tests, their solved plan folders, and folder snapshots.

Instances are `tests.bruteforce.Tiny` rows written by `tests.bruteforce.write`, so the
brute-force cross-check and the hand-checked cases share one data model.
"""

from __future__ import annotations

from pathlib import Path

import allocator
from tests.bruteforce import Tiny, write


def product(
    name: str = "p1",
    *,
    available_from: int = 1,
    wafers: float = 1,
    power: float = 0,
    holding: float = 0,
    initial: int = 0,
) -> dict:
    return {
        "product": name,
        "available_from": available_from,
        "wafers_per_rack": wafers,
        "power_kw": power,
        "holding_cost": holding,
        "initial_inventory": initial,
    }


def supply(
    period: int, base: int, surplus_max: int = 0, cost: float = 0, product: str = "p1"
) -> dict:
    return {
        "product": product,
        "period": period,
        "base_racks": base,
        "surplus_max_racks": surplus_max,
        "surplus_cost": cost,
    }


def customer(
    name: str,
    *,
    region: str = "r1",
    min_fill: float = 0,
    onboarding: float = 0,
    min_contract: int = 0,
) -> dict:
    """``tp...`` names a third party, anything else an internal customer."""
    third_party = name.startswith("tp")
    return {
        "customer": name,
        "segment": "third_party" if third_party else "internal",
        "region": region,
        "min_fill": 0 if third_party else min_fill,
        "onboarding_cost": onboarding if third_party else 0,
        "min_contract_racks": min_contract if third_party else 0,
    }


def order(
    name: str,
    customer_name: str,
    period: int,
    racks: int,
    price: float,
    *,
    product_name: str = "p1",
    max_delay: int = 0,
    delay_penalty: float = 0,
) -> dict:
    return {
        "order": name,
        "customer": customer_name,
        "product": product_name,
        "period": period,
        "racks": racks,
        "price_per_rack": price,
        "max_delay": max_delay,
        "delay_penalty": delay_penalty,
    }


def tiny_instance(
    folder: Path,
    *,
    periods: int,
    products: list[dict],
    supply_rows: list[dict],
    customers: list[dict],
    orders: list[dict],
    foundry: list[dict] | None = None,
    regions: list[dict] | None = None,
    substitutes: list[dict] | None = None,
    share: float = 1.0,
    penalty: float = 0.0,
) -> Path:
    """Write a tiny instance (no services) into ``folder``."""
    tiny = Tiny(periods=periods, share=share, penalty=penalty)
    tiny.tables = {
        "products": products,
        "supply": supply_rows,
        "foundry": foundry or [],
        "customers": customers,
        "orders": orders,
        "services": [],
        "attach": [],
        "regions": regions or [],
        "substitutes": substitutes or [],
    }
    tiny.write_regions = bool(regions)
    return write(tiny, folder)


def solved(instance_dir: Path, out: Path) -> Path:
    """Solve ``instance_dir`` to optimality and write its plan folder ``out``."""
    result = allocator.solve(allocator.load_instance(instance_dir), mip_gap=0.0)
    return result.write(out)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes): compare before and after."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
