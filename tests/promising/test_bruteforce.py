"""available_racks, its earliest schedule and its cheapest extra surplus against enumeration.

On random tiny instances (`tests.bruteforce.random_tiny`, free draws and the modes where
a deal, the share cap, region power, foundry surplus or substitutes bind), a plan is
taken (the enumerated optimum, or a random feasible plan that leaves stock and surplus
unused) and a random new order asked for. The brute force is written from the contract's
words, not from allocator's model: add the order to the instance as an ordinary order,
keep every shipment, surplus rack and deal of the plan, and try every way to ship the new
order in its window together with every amount of extra surplus of every product (up to
``surplus_max_racks``) and, for a third party whose deal the plan rejected, starting the
deal; a way is possible when `tests.bruteforce.score` (the contract's model) accepts the
whole plan. Then:

* available_racks is the most racks of any possible way;
* the schedule is possible, and by every period it has shipped at least as many racks as
  any possible way with that many racks (as early as possible);
* its extra surplus is the cheapest for that schedule (the enumerated best objective,
  which differs between extras only by their surplus and holding cost) and, at that
  cost, the fewest racks.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pandas as pd
import pytest

from allocator.data.validate import load_instance
from allocator.promising.answer import promise_order
from allocator.promising.plan_folder import checked_plan
from allocator.promising.request import PromiseRequest
from tests.bruteforce import (
    Model,
    Plan,
    Tiny,
    enumerate_optimum,
    random_tiny,
    space_size,
    write,
)

MODES = ("third_party_deal", "third_party_share", "region_power", "foundry_surplus", "substitutes")
CASES = [
    *((None, seed) for seed in range(80)),
    *((mode, seed) for mode in MODES for seed in range(10)),
    *(("spread", seed) for seed in range(40)),
]
NEW = "promise-1"


def _case_id(case: tuple[str | None, int]) -> str:
    return f"{case[0] or 'random'}-{case[1]}"


def _spread(seed: int) -> Tiny:
    """Three periods of a product made a few racks at a time, surplus offered in some
    periods at different costs, power rows in some, one or two orders taking part of it,
    and (in `_request`) a new order for period 1 that may wait two periods: where the
    schedule's timing and the surplus's cost are choices."""
    rng = random.Random(f"spread-{seed}")
    while True:
        tiny = Tiny(periods=3, share=rng.choice([0.5, 1.0]), penalty=0.0)
        tiny.tables["products"] = [
            {
                "product": "p1",
                "available_from": 1,
                "wafers_per_rack": 1,
                "power_kw": rng.choice([0, 1]),
                "holding_cost": rng.choice([0, 5]),
                "initial_inventory": rng.randint(0, 1),
            }
        ]
        tiny.tables["supply"] = [
            {
                "product": "p1",
                "period": t,
                "base_racks": rng.randint(0, 2),
                "surplus_max_racks": rng.choice([0, 0, 1, 2]),
                "surplus_cost": rng.choice([10, 20, 40]),
            }
            for t in (1, 2, 3)
        ]
        tiny.tables["foundry"] = [
            {"period": t, "surplus_wafers": rng.randint(0, 2)} for t in (1, 2, 3)
        ]
        tiny.tables["customers"] = [
            {"customer": "int1", "segment": "internal", "region": "r1", "min_fill": 0,
             "onboarding_cost": 0, "min_contract_racks": 0},
            {"customer": "tp2", "segment": "third_party", "region": "r1", "min_fill": 0,
             "onboarding_cost": rng.choice([0, 100]), "min_contract_racks": rng.randint(0, 2)},
        ]  # fmt: skip
        tiny.tables["orders"] = [
            {
                "order": f"o{i}",
                "customer": rng.choice(["int1", "tp2"]),
                "product": "p1",
                "period": rng.randint(1, 3),
                "racks": rng.randint(1, 2),
                "price_per_rack": rng.randint(1, 6) * 100,
                "max_delay": 0,
                "delay_penalty": 0,
            }
            for i in range(1, rng.randint(1, 2) + 1)
        ]
        tiny.tables["services"] = []
        tiny.tables["attach"] = []
        tiny.tables["regions"] = [
            {"region": "r1", "period": t, "power_kw": rng.randint(1, 4)}
            for t in (1, 2, 3)
            if rng.random() < 0.3
        ]
        tiny.write_regions = bool(tiny.tables["regions"])
        if space_size(tiny) <= 5_000:
            return tiny


def _plan(tiny: Tiny, rng: random.Random) -> Plan:
    """Half the time the enumerated optimum; else a random feasible plan."""
    optimum = enumerate_optimum(tiny)
    assert optimum is not None  # shipping nothing is always a plan
    if rng.random() < 0.5:
        return optimum[1]
    model = Model(tiny)
    x_choices, s_choices, y_choices = model.x_choices(), model.s_choices(), model.y_choices()
    for _ in range(300):
        x = {key: racks for part in map(rng.choice, x_choices) for key, racks in part.items()}
        plan = Plan(x, rng.choice(s_choices), rng.choice(y_choices))
        if model.score(plan) is not None:
            return plan
    return optimum[1]


def _request(tiny: Tiny, rng: random.Random, *, spread: bool = False) -> PromiseRequest:
    if spread:  # periods 1..3, more racks than one period makes
        return PromiseRequest(
            customer=rng.choice(["int1", "tp2"]),
            product="p1",
            racks=rng.randint(2, 4),
            period=1,
            max_delay=2,
            price=rng.randint(0, 6) * 100,
        )
    return PromiseRequest(
        customer=rng.choice(tiny.rows("customers"))["customer"],
        product=rng.choice(tiny.rows("products"))["product"],
        racks=rng.randint(1, 3),
        period=rng.choice([1, 1, rng.randint(1, tiny.periods)]),
        max_delay=rng.choice([0, 1, 2, 2]),
        price=rng.randint(0, 12) * 100,
        delay_penalty=rng.choice([0, 50]),
    )


def _with_new_order(tiny: Tiny, request: PromiseRequest) -> Tiny:
    row = {
        "order": NEW,
        "customer": request.customer,
        "product": request.product,
        "period": request.period,
        "racks": request.racks,
        "price_per_rack": request.price,
        "max_delay": request.max_delay,
        "delay_penalty": request.delay_penalty,
    }
    tables = {**tiny.tables, "orders": [*tiny.rows("orders"), row]}
    return Tiny(tiny.periods, tiny.share, tiny.penalty, tables, tiny.write_regions)


def _ways(
    tiny: Tiny, plan: Plan, request: PromiseRequest
) -> dict[tuple[int, ...], list[tuple[float, int]]]:
    """Every possible way, by the racks shipped in each period of the window: (objective,
    extra surplus racks) of each extra surplus and deal choice that makes it possible."""
    augmented = _with_new_order(tiny, request)
    model = Model(augmented)
    window = list(model.window[NEW, request.product])
    keys = list(model.surplus_max)
    rooms = [range(model.surplus_max[key] - plan.s.get(key, 0) + 1) for key in keys]
    deals = [plan.y]
    third_party = request.customer in model.third_party
    if third_party and plan.y.get(request.customer, 0) == 0:
        deals.append({**plan.y, request.customer: 1})
    ways: dict[tuple[int, ...], list[tuple[float, int]]] = {}
    for split in itertools.product(range(request.racks + 1), repeat=len(window)):
        if sum(split) > request.racks:
            continue
        x = dict(plan.x)
        x.update({(NEW, request.product, t): r for t, r in zip(window, split, strict=True)})
        for extra in itertools.product(*rooms):
            s = dict(plan.s)
            for key, racks in zip(keys, extra, strict=True):
                s[key] = s.get(key, 0) + racks
            for y in deals:
                value = model.score(Plan(x, s, y))
                if value is not None:
                    ways.setdefault(split, []).append((value, sum(extra)))
    return ways


def _allocator_plan(instance_dir: Path, plan: Plan) -> tuple[object, object]:
    instance = load_instance(instance_dir)
    allocation = pd.DataFrame(
        [(o, p, t, r) for (o, p, t), r in plan.x.items() if r > 0],
        columns=["order", "product", "ship_period", "racks"],
    ).astype({"ship_period": "int64", "racks": "int64"})
    surplus = pd.DataFrame(
        [(p, t, r) for (p, t), r in plan.s.items() if r > 0], columns=["product", "period", "racks"]
    ).astype({"period": "int64", "racks": "int64"})
    deals = pd.Series({c: float(y) for c, y in plan.y.items()}, dtype=float)
    return instance, checked_plan(instance, allocation, surplus, deals, "enumerated plan")


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_available_equals_brute_force(case: tuple[str | None, int], tmp_path: Path) -> None:
    mode, seed = case
    tiny = _spread(seed) if mode == "spread" else random_tiny(seed, mode=mode, max_plans=5_000)
    rng = random.Random(f"promise-{mode}-{seed}")
    plan = _plan(tiny, rng)
    request = _request(tiny, rng, spread=mode == "spread")
    _, plan_input = _allocator_plan(write(tiny, tmp_path / "instance"), plan)
    answer = promise_order(plan_input, request, capable=False)  # type: ignore[arg-type]

    ways = _ways(tiny, plan, request)
    most = max(sum(split) for split in ways)
    context = f"{tiny.describe()}\nplan {plan}\nrequest {request}"
    assert answer.available_racks == most, context

    window = sorted(Model(_with_new_order(tiny, request)).window[NEW, request.product])
    ours = tuple(dict(answer.available.schedule).get(t, 0) for t in window)
    assert ours in ways, context
    prefix = list(itertools.accumulate(ours))
    for split in ways:
        if sum(split) == most:
            assert all(
                mine >= theirs
                for mine, theirs in zip(prefix, itertools.accumulate(split), strict=True)
            ), f"{split} ships earlier than {ours}\n{context}"

    best = max(value for value, _ in ways[ours])
    fewest = min(extra for value, extra in ways[ours] if abs(value - best) < 1e-6)
    extra_racks = sum(racks for _, _, racks in answer.available.surplus)
    assert extra_racks == fewest, context
    assert abs(answer.available.objective_change - (best - _objective(tiny, plan))) < 1e-6, context


def _objective(tiny: Tiny, plan: Plan) -> float:
    value = Model(tiny).score(plan)
    assert value is not None
    return value
