"""``allocator scenarios``: a ``scenarios.csv`` from ranges, no scenario tree typed by hand.

Each range is a target (``orders.racks`` for demand, ``foundry.surplus_wafers`` for the
foundry's surplus wafers, ``orders.price_per_rack`` for prices, or any ``TABLE.COLUMN``
or numeric ``policy.KEY``) with a low and a high value. Two ways to make scenarios:

* levels (the default): each range at K evenly spaced values (K = 3: low, middle, high),
  each level with its probability (equal, or ``--probabilities``); several ranges make
  their Cartesian product, probabilities multiplied (independent ranges). Names say the
  values: ``demand-x0.8__wafers-x1.5``.
* sampling (``--count N``): N scenarios, every target drawn uniformly in its range (the
  same seed, the same file), each with probability 1/N; names ``s001``, ``s002``, ...

The file it writes is read back with `allocator.stochastic.scenario_file.read_scenarios`
before it replaces anything, so it is always valid input for ``allocator stochastic``.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from allocator.atomic import write_file
from allocator.whatif.scenarios import format_number
from allocator.whatif.spec import Target, WhatifError, parse_target

ALIASES = {
    "demand": "orders.racks",
    "wafers": "foundry.surplus_wafers",
    "prices": "orders.price_per_rack",
}
"""Short names of the usual ranges (``--demand``, ``--wafers``, ``--prices``)."""
MAX_SCENARIOS = 10_000


class ScenarioRangeError(ValueError):
    """A bad range or option of ``allocator scenarios`` (exit 2)."""


@dataclass(frozen=True)
class Range:
    """A target and the interval of its values (factors, or a policy key's values)."""

    label: str
    target: Target
    low: float
    high: float

    def levels(self, count: int) -> list[float]:
        if count == 1 or self.low == self.high:
            return [(self.low + self.high) / 2] if count == 1 else [self.low] * count
        step = (self.high - self.low) / (count - 1)
        return [round(self.low + step * i, 12) for i in range(count)]


def parse_range(label: str, text: str) -> Range:
    """``LOW:HIGH`` (or one value) for the target ``label`` (an alias or TABLE.COLUMN)."""
    name = ALIASES.get(label, label)
    try:
        target = parse_target(name, "range", delays=False)
    except WhatifError as error:
        raise ScenarioRangeError(str(error)) from None
    parts = text.split(":")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise ScenarioRangeError(f"{label} {text!r}: write LOW:HIGH, e.g. 0.8:1.2") from None
    if len(values) not in (1, 2) or not all(math.isfinite(v) for v in values):
        raise ScenarioRangeError(f"{label} {text!r}: write LOW:HIGH with finite numbers")
    low, high = values[0], values[-1]
    if low > high:
        raise ScenarioRangeError(f"{label} {text!r}: LOW is above HIGH")
    if not target.is_policy and low < 0:
        raise ScenarioRangeError(f"{label} {text!r}: factors must be >= 0")
    short = next((alias for alias, full in ALIASES.items() if full == name), name)
    return Range(short, target, low, high)


def level_probabilities(levels: int, given: Sequence[float] | None) -> list[float]:
    """Each level's probability: ``given`` (as many as levels, > 0, summing to 1 within
    1e-9) or equal."""
    if given is None:
        return [1.0 / levels] * levels
    if len(given) != levels:
        raise ScenarioRangeError(f"--probabilities gives {len(given)} values for {levels} levels")
    if any(not math.isfinite(p) or p <= 0 for p in given):
        raise ScenarioRangeError("--probabilities must be numbers > 0")
    if abs(math.fsum(given) - 1.0) > 1e-9:
        raise ScenarioRangeError(f"--probabilities sum to {math.fsum(given)!r}, not 1")
    return list(given)


Row = tuple[str, float, str, str]


def level_rows(ranges: Sequence[Range], levels: int, probabilities: Sequence[float]) -> list[Row]:
    """The Cartesian product of every range's levels."""
    axes = [
        [(r, value, p) for value, p in zip(r.levels(levels), probabilities, strict=True)]
        for r in ranges
    ]
    rows: list[Row] = []
    for combination in itertools.product(*axes):
        name = "__".join(_label(r, value) for r, value, _ in combination)
        chance = math.prod(p for _, _, p in combination)
        for r, value, _ in combination:
            rows.append((name, chance, r.target.name, format_number(value)))
    return rows


def sampled_rows(ranges: Sequence[Range], count: int, seed: int) -> list[Row]:
    """``count`` scenarios, each target uniform in its range, probability 1/count."""
    rng = random.Random(seed)
    width = max(3, len(str(count)))
    rows: list[Row] = []
    for number in range(1, count + 1):
        name = f"s{number:0{width}d}"
        for r in ranges:
            value = round(rng.uniform(r.low, r.high), 4)
            rows.append((name, 1.0 / count, r.target.name, format_number(value)))
    return rows


def _label(r: Range, value: float) -> str:
    prefix = "" if r.target.is_policy else "x"
    return f"{r.label}-{prefix}{format_number(value)}"


def write_scenarios(path: Path, rows: Sequence[Row]) -> None:
    """``rows`` as ``scenarios.csv``, atomically; checked by reading them back first."""
    from allocator.stochastic.scenario_file import ScenarioFileError, read_scenarios

    names = {name for name, *_ in rows}
    if len(names) > MAX_SCENARIOS:
        raise ScenarioRangeError(f"{len(names)} scenarios; at most {MAX_SCENARIOS}")
    lines = ["scenario,probability,target,value"]
    lines += [f"{name},{chance!r},{target},{value}" for name, chance, target, value in rows]
    text = "\n".join(lines) + "\n"

    def write(temporary: Path) -> None:
        temporary.write_text(text, encoding="utf-8")
        try:
            read_scenarios(temporary)
        except ScenarioFileError as error:  # a bug here, not the planner's input
            raise ScenarioRangeError(error.describe()) from None

    write_file(path, write)
