"""``scenarios.csv``: what may happen, read and checked whole, and the mean scenario of the EEV.

Columns ``scenario, probability, target, value`` (docs/contract.md, "Uncertain demand and
foundry surplus"). ``target`` is ``TABLE.COLUMN`` (the column multiplied by ``value``) or
``policy.KEY`` (set to ``value``), parsed by the what-if sweep's own
`allocator.whatif.spec.parse_target`, and a scenario's instance is made by its
`allocator.whatif.scenarios.scenario_instance` (counts rounded, values kept in their
valid range, as ``whatif --vary``). A row with ``target`` and ``value`` empty only names a
scenario and its probability.

Every problem is found in one pass and reported with file, row (the line, header = 1) and
column: a missing column, an empty or unusable scenario name, a probability that is not
a number > 0 (and <= 1), rows of one scenario that disagree on its probability,
probabilities that do not sum to 1 within 1e-9, an unknown table, column or key (or one
a scenario may not set), a value that is not a finite number in range, a target named
twice in one scenario.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from allocator.data.instance import Instance
from allocator.data.read import read_csv_text
from allocator.data.schema import SETTINGS
from allocator.data.validate import forbidden_character
from allocator.errors import Problem
from allocator.whatif.spec import Scenario, Target, WhatifError, parse_target

COLUMNS = ("scenario", "probability", "target", "value")
PROBABILITY_TOLERANCE = 1e-9
"""Probabilities must sum to 1 within this."""
MAX_NAME_LENGTH = 100
"""A scenario name is a folder name under ``scenarios/``."""
FIXED_POLICY_KEYS = ("priority_rule", "fair_share")
"""Policy keys a scenario may not set: a two-stage plan is solved under the profit rule,
and a mean of rules has no meaning."""


class ScenarioFileError(ValueError):
    """``scenarios.csv`` is invalid; ``problems`` lists every problem found."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = tuple(sorted(problems, key=_order))
        super().__init__(self.describe())

    def describe(self) -> str:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"invalid scenario file {self.source}: {count} {noun}"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


def _order(problem: Problem) -> tuple[int, str, str]:
    return (
        problem.row if problem.row is not None else 10**12,
        problem.column or "",
        problem.message,
    )


@dataclass(frozen=True)
class StochasticScenario:
    """One scenario: its name, probability and changes (target, factor or policy value)."""

    name: str
    probability: float
    changes: tuple[tuple[Target, float], ...] = ()

    def variant(self) -> Scenario:
        """The what-if scenario that makes this scenario's instance."""
        return Scenario(self.name, "sweep", changes=self.changes)


@dataclass(frozen=True)
class ScenarioSet:
    """The scenarios of a file, in the order they first appear."""

    source: str
    scenarios: tuple[StochasticScenario, ...]

    @property
    def names(self) -> list[str]:
        return [scenario.name for scenario in self.scenarios]

    def mean(self, base: Instance) -> StochasticScenario:
        """The contract's mean scenario: every multiplied column at its probability-weighted
        mean factor, every set policy key at its probability-weighted mean (a scenario
        that leaves a target alone counts its base value: factor 1, the policy's value)."""
        targets = sorted({target for scenario in self.scenarios for target, _ in scenario.changes})
        changes = []
        for target in targets:
            mean = 0.0
            for scenario in self.scenarios:
                value = float(dict(scenario.changes).get(target, target.base_value(base)))
                mean += scenario.probability * value
            changes.append((target, mean))
        return StochasticScenario("mean", 1.0, tuple(changes))


def read_scenarios(path: Path) -> ScenarioSet:
    """The scenarios of ``path``; `ScenarioFileError` listing every problem otherwise."""
    source = path.name
    problems: list[Problem] = []
    if not path.is_file():
        raise ScenarioFileError(str(path), [Problem(source, None, None, "file is missing")])
    frame = read_csv_text(path, source, problems)
    if frame is not None:
        missing = [column for column in COLUMNS if column not in frame.columns]
        for column in missing:
            problems.append(Problem(source, 1, column, "column is missing"))
        for column in frame.columns:
            if column not in COLUMNS:
                problems.append(
                    Problem(source, 1, column, f"unknown column (known: {', '.join(COLUMNS)})")
                )
        if not missing:
            scenarios = _scenarios(frame, source, problems)
            if not problems:
                return ScenarioSet(str(path), scenarios)
    raise ScenarioFileError(str(path), problems)


def _scenarios(
    frame: pd.DataFrame, source: str, problems: list[Problem]
) -> tuple[StochasticScenario, ...]:
    probability: dict[str, tuple[float, int]] = {}
    changes: dict[str, dict[Target, tuple[float, int]]] = {}
    for index, name, text, target_text, value_text in zip(
        frame.index,
        frame["scenario"],
        frame["probability"],
        frame["target"],
        frame["value"],
        strict=True,
    ):
        row = int(index) + 2
        name_problem = _name_problem(name)
        if name_problem:
            problems.append(Problem(source, row, "scenario", name_problem))
            continue
        changes.setdefault(name, {})
        chance = _probability(text, source, row, problems)
        if chance is not None:
            if name not in probability:
                probability[name] = (chance, row)
            elif probability[name][0] != chance:
                first, line = probability[name]
                problems.append(
                    Problem(
                        source,
                        row,
                        "probability",
                        f"scenario {name!r} has probability {text} here but {first!r} "
                        f"in row {line}",
                    )
                )
        change = _change(target_text, value_text, source, row, problems)
        if change is None:
            continue
        target, value = change
        if target in changes[name]:
            line = changes[name][target][1]
            problems.append(
                Problem(
                    source,
                    row,
                    "target",
                    f"scenario {name!r} sets {target.name} again (first in row {line})",
                )
            )
            continue
        changes[name][target] = (value, row)
    if not changes and not problems:
        problems.append(Problem(source, None, None, "no scenario: the file has no rows"))
    if not problems:
        total = math.fsum(chance for chance, _ in probability.values())
        if abs(total - 1.0) > PROBABILITY_TOLERANCE:
            problems.append(
                Problem(
                    source,
                    None,
                    "probability",
                    f"the scenarios' probabilities sum to {total!r}, not 1 (within "
                    f"{PROBABILITY_TOLERANCE:g}): "
                    + ", ".join(f"{name} {chance!r}" for name, (chance, _) in probability.items()),
                )
            )
    return tuple(
        StochasticScenario(
            name,
            probability.get(name, (math.nan, 0))[0],
            tuple(sorted((target, value) for target, (value, _) in targets.items())),
        )
        for name, targets in changes.items()
    )


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a scenario (and its folder); None when it can."""
    if not name:
        return "empty scenario name"
    if len(name) > MAX_NAME_LENGTH:
        return f"scenario name longer than {MAX_NAME_LENGTH} characters"
    bad = forbidden_character(name)
    if bad:
        return f"scenario name holds {bad}"
    if "/" in name or "\\" in name or name.startswith("."):
        return f"scenario name {name!r} cannot be a folder name (no / or \\, no leading .)"
    return None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value


def _probability(text: str, source: str, row: int, problems: list[Problem]) -> float | None:
    value = _number(text)
    if value is None or not math.isfinite(value):
        problems.append(Problem(source, row, "probability", f"{text!r} is not a finite number"))
        return None
    if not 0 < value <= 1:
        problems.append(Problem(source, row, "probability", f"{text} is not in (0, 1]"))
        return None
    return value


def _change(
    target_text: str, value_text: str, source: str, row: int, problems: list[Problem]
) -> tuple[Target, float] | None:
    """The row's (target, value); None for a naming row or a problem (added)."""
    if not target_text and not value_text:
        return None
    if not target_text:
        problems.append(Problem(source, row, "target", "a value without a target"))
        return None
    try:
        target = parse_target(target_text, "target", delays=False)
    except WhatifError as error:
        problems.append(Problem(source, row, "target", str(error)))
        return None
    if target.is_policy and target.column in FIXED_POLICY_KEYS:
        problems.append(
            Problem(
                source,
                row,
                "target",
                f"policy.{target.column} cannot differ by scenario: a two-stage plan is solved "
                "under the profit rule",
            )
        )
        return None
    if not value_text:
        problems.append(Problem(source, row, "value", f"no value for {target.name}"))
        return None
    value = _number(value_text)
    if value is None or not math.isfinite(value):
        problems.append(Problem(source, row, "value", f"{value_text!r} is not a finite number"))
        return None
    if target.is_policy:
        setting = next(item for item in SETTINGS if item.key == target.name)
        low = -math.inf if setting.minimum is None else setting.minimum
        high = math.inf if setting.maximum is None else setting.maximum
        if not low <= value <= high:
            problems.append(
                Problem(
                    source,
                    row,
                    "value",
                    f"{target.name} = {value_text} is out of range [{setting.minimum}, "
                    f"{'' if setting.maximum is None else setting.maximum}]",
                )
            )
            return None
    elif value < 0:
        problems.append(
            Problem(source, row, "value", f"factor {value_text} on {target.name} is negative")
        )
        return None
    return target, value
