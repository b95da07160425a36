"""The two-stage plan against enumeration on random tiny instances, written from the contract.

For each random tiny instance (tests/bruteforce.py) and a few random scenarios (factors on
orders.racks, orders.price_per_rack, supply.surplus_max_racks, foundry.surplus_wafers),
each scenario's instance is made here from the contract's words (a count multiplied and
rounded half up, kept >= its minimum; a number multiplied), every first stage (surplus,
and with deals every accept/reject) that fits every scenario is enumerated, and each
scenario's best plan given it is found by `tests.bruteforce.Model` (no allocator code):
RP = max over first stages of - base surplus cost + sum_w prob(w) * (scenario w's best
objective without its surplus cost). WS = sum_w prob(w) * each scenario's optimum. Also,
from allocator's own figures: eev <= rp <= ws.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from pathlib import Path

import pytest

from allocator.data.validate import load_instance
from allocator.solver.highs import SolverOptions
from allocator.solver.pipeline import RunOptions
from allocator.stochastic.run import run_stochastic
from allocator.stochastic.scenario_file import read_scenarios
from tests.bruteforce import Model, Tiny, enumerate_optimum, random_tiny, write
from tests.stochastic.helpers import write_scenarios

CASES = [
    *((None, seed, False) for seed in range(4)),
    *(("foundry_surplus", seed, False) for seed in range(5)),
    *(("third_party_deal", seed, True) for seed in range(3)),
]
TARGETS = {
    ("orders", "racks"): 1,
    ("orders", "price_per_rack"): None,
    ("supply", "surplus_max_racks"): 0,
    ("foundry", "surplus_wafers"): None,
}
"""Columns the scenarios multiply, with the least whole number of a count (None: a number)."""
FACTORS = (0.5, 1.0, 1.5, 2.0)
PROBABILITIES = ((0.5, 0.5), (0.25, 0.75), (0.25, 0.25, 0.5))


def scaled(tiny: Tiny, changes: dict[tuple[str, str], float]) -> Tiny:
    """The contract's scenario instance: each column times its factor, counts rounded
    half up and kept at least their minimum."""
    result = copy.deepcopy(tiny)
    for (table, column), factor in changes.items():
        least = TARGETS[table, column]
        for row in result.tables.get(table, []):
            value = row[column] * factor
            row[column] = value if least is None else max(least, math.floor(value + 0.5))
    return result


def best_given(model: Model, s: dict, y: dict | None) -> float | None:
    """Scenario's best objective with surplus ``s`` (and deals ``y``) fixed, plus back its
    own surplus cost; None when no plan fits."""
    best = None
    for parts in itertools.product(*model.x_choices()):
        x = {key: racks for part in parts for key, racks in part.items()}
        shipped = model.ship_part(x)
        if shipped is None:
            continue
        value, by_product, by_customer = shipped
        surplus = model.surplus_part(s, by_product)
        if surplus is None:
            continue
        deals = [y] if y is not None else model.y_choices()
        values = [model.deal_part(choice, by_customer) for choice in deals]
        values = [v for v in values if v is not None]
        if not values:
            continue
        total = value + surplus + max(values)
        best = total if best is None else max(best, total)
    if best is None:
        return None
    return best + sum(model.supply[key]["surplus_cost"] * racks for key, racks in s.items())


def rp_by_enumeration(base: Tiny, scenarios: list[tuple[float, Tiny]], deals: bool) -> float:
    models = [(p, Model(tiny)) for p, tiny in scenarios]
    limits = [model.surplus_max for _, model in models]
    keys = [key for key in limits[0] if all(key in limit for limit in limits)]
    base_cost = Model(base).supply
    y_choices = Model(base).y_choices() if deals else [None]
    best = -math.inf
    for values in itertools.product(*(range(min(limit[k] for limit in limits) + 1) for k in keys)):
        s = dict(zip(keys, values, strict=True))
        for y in y_choices:
            total = -sum(base_cost[key]["surplus_cost"] * racks for key, racks in s.items())
            for p, model in models:
                value = best_given(model, s, y)
                if value is None:
                    break
                total += p * value
            else:
                best = max(best, total)
    return best


@pytest.mark.parametrize(("mode", "seed", "deals"), CASES, ids=lambda c: str(c))
def test_rp_and_ws_equal_enumeration(
    tmp_path: Path, mode: str | None, seed: int, deals: bool
) -> None:
    base = random_tiny(seed, mode=mode, max_plans=1500)
    rng = random.Random(f"two-stage-{mode}-{seed}")
    chances = rng.choice(PROBABILITIES)
    scenarios: list[tuple[float, Tiny]] = []
    rows = []
    for number, chance in enumerate(chances):
        targets = rng.sample(sorted(TARGETS), rng.randint(0, 2))
        changes = {target: rng.choice(FACTORS) for target in targets}
        scenarios.append((chance, scaled(base, changes)))
        name = f"w{number}"
        rows.append(f"{name},{chance!r},,")
        rows += [f"{name},{chance!r},{t}.{c},{f!r}" for (t, c), f in changes.items()]
    folder = write(base, tmp_path / "instance")
    path = write_scenarios(tmp_path / "scenarios.csv", rows)
    report = run_stochastic(
        load_instance(folder),
        str(folder),
        tmp_path / "out",
        read_scenarios(path),
        RunOptions(SolverOptions(mip_gap=0.0), marginal_values=False),
        deals=deals,
    )
    record = report.record
    context = f"{rows}\n{base.describe()}"
    assert record["rp"] == pytest.approx(rp_by_enumeration(base, scenarios, deals), abs=1e-6), (
        context
    )
    optima = [enumerate_optimum(tiny) for _, tiny in scenarios]
    ws = sum(p * best[0] for (p, _), best in zip(scenarios, optima, strict=True) if best)
    assert record["ws"] == pytest.approx(ws, abs=1e-6), context
    assert record["rp"] <= record["ws"] + 1e-6
    if record["eev"] is not None:
        assert record["eev"] <= record["rp"] + 1e-6
        assert record["vss"] >= -1e-6
