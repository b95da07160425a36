"""Priority tiers for the brute-force cross-check: tiers drawn on a `Tiny`, and the
lexicographic optimum by enumeration, straight from the contract.

Nothing here imports allocator. Under ``priority_rule = "lexicographic"`` the plan is
the best by stages: for tiers k_1 < k_2 < ... (of customers with orders), if fair share
F_k = min over customers c of tier k with Q(c) > 0 of (racks to c) / Q(c), then R_k =
racks to tier k; last the objective. Every stage's value depends on x alone, so the
enumeration keeps, for every feasible x, its stage values (exact fractions) and its best
objective (best s and y for that x), and takes the lexicographic maximum: that is
filtering the plans by each stage in turn.
"""

from __future__ import annotations

import itertools
import random
from fractions import Fraction
from pathlib import Path

from tests.bruteforce import Model, Plan, Tiny, _best, random_tiny, write

Stages = list[tuple[int, str]]


def tiered(seed: int) -> tuple[Tiny, dict[str, int], bool]:
    """A random tiny instance (any generation mode) with every customer given a tier of
    1..3 and fair share on or off."""
    rng = random.Random(f"priority-{seed}")
    modes = [None, "substitutes", "internal_fill", "third_party_share", "third_party_deal"]
    tiny = random_tiny(seed, mode=rng.choice(modes), max_plans=20_000)
    tiers = {row["customer"]: rng.randint(1, 3) for row in tiny.rows("customers")}
    return tiny, tiers, rng.random() < 0.5


def write_tiered(tiny: Tiny, tiers: dict[str, int], fair_share: bool, folder: Path) -> Path:
    """`write`, plus the ``priority`` column and the two policy keys."""
    write(tiny, folder)
    customers = (folder / "customers.csv").read_text(encoding="utf-8").splitlines()
    lines = [customers[0] + ",priority"]
    lines += [f"{line},{tiers[line.split(',')[0]]}" for line in customers[1:]]
    (folder / "customers.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (folder / "instance.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'priority_rule = "lexicographic"\nfair_share = {str(fair_share).lower()}\n')
    return folder


def stages_of(tiny: Tiny, tiers: dict[str, int], fair_share: bool) -> Stages:
    """(tier, criterion) in the order solved, profit left out."""
    ordered = Model(tiny).ordered
    stages: Stages = []
    for tier in sorted({tiers[c] for c, racks in ordered.items() if racks > 0}):
        if fair_share:
            stages.append((tier, "min_fill"))
        stages.append((tier, "racks"))
    return stages


def stage_values(
    model: Model, tiers: dict[str, int], stages: Stages, by_customer: dict[str, int]
) -> tuple[Fraction, ...]:
    values = []
    for tier, criterion in stages:
        members = [c for c in model.customers if tiers[c] == tier]
        if criterion == "racks":
            values.append(Fraction(sum(by_customer.get(c, 0) for c in members)))
        else:
            values.append(
                min(
                    Fraction(by_customer.get(c, 0), model.ordered[c])
                    for c in members
                    if model.ordered[c] > 0
                )
            )
    return tuple(values)


def enumerate_lexicographic(
    tiny: Tiny, tiers: dict[str, int], fair_share: bool
) -> tuple[tuple[Fraction, ...], float, Plan] | None:
    """The lexicographic optimum: the best stage values, then the best objective, and a
    plan reaching both; None when no plan is feasible."""
    model = Model(tiny)
    stages = stages_of(tiny, tiers, fair_share)
    s_choices, y_choices = model.s_choices(), model.y_choices()
    best: tuple[tuple[Fraction, ...], float, Plan] | None = None
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
        key = stage_values(model, tiers, stages, by_customer)
        total = value + surplus[0] + deal[0]
        if best is None or (key, total) > (best[0], best[1]):
            best = (key, total, Plan(x, surplus[1], deal[1]))
    return best
