"""What a what-if sweep asks for, and the parsing and checking of its command-line definition.

A sweep is a list of `Scenario` values, each a small set of changes to the base
instance: a multiplier on the foundry's surplus wafers (``--surplus-scale``), a policy
value set (``--vary policy.KEY=V,...``), a table column multiplied
(``--vary TABLE.COLUMN=F,...``), a product's supply delayed by k months
(``--vary delay.PRODUCT=K,...``, the Trainium4 slip); several axes make their Cartesian
product.
``--policy-cost`` adds the base instance and, for each policy, the base instance without
it (`POLICY_DROPS`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from allocator.data.instance import Instance, Policy
from allocator.data.schema import SETTINGS, TABLES, Setting


class WhatifError(ValueError):
    """A bad sweep definition (``--vary``, ``--surplus-scale``, ``--scheduler``): the CLI
    exits 2."""


SCHEDULER_PROTOCOLS = ("tcp", "tls", "inproc", "ucx", "ws", "wss")


def check_scheduler_address(address: str) -> None:
    """``PROTOCOL://HOST:PORT`` (Dask's address form); `WhatifError` otherwise."""
    protocol, separator, location = address.partition("://")
    host, colon, port = location.rpartition(":")
    if (
        not separator
        or protocol not in SCHEDULER_PROTOCOLS
        or not colon
        or not host
        or not port.isdigit()
        or not 0 < int(port) < 65536
    ):
        raise WhatifError(
            f"--scheduler {address!r}: give a Dask scheduler address like tcp://HOST:8786"
        )


# --- what a scenario changes ---------------------------------------------------------

POLICY_KEYS: tuple[str, ...] = tuple(item.name for item in dataclasses.fields(Policy))


Value = float | str | bool
"""A --vary value: a factor, a number of months, or a policy value (a number, a choice
such as ``lexicographic``, or true/false)."""

DELAY = "delay"
"""``--vary delay.PRODUCT=K,...``: the product's supply arrives K months later."""


@dataclass(frozen=True, order=True)
class Target:
    """What a ``--vary`` changes: ``policy.KEY`` (set), ``TABLE.COLUMN`` (multiplied) or
    ``delay.PRODUCT`` (the product's available_from and supply moved K months later)."""

    table: str
    column: str

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    @property
    def is_policy(self) -> bool:
        return self.table == "policy"

    @property
    def is_delay(self) -> bool:
        return self.table == DELAY

    def base_value(self, instance: Instance) -> Value:
        """The value that leaves the instance as it is: the policy value, factor 1 or a
        delay of 0 months."""
        if self.is_policy:
            value = getattr(instance.policy, self.column)
            return value if isinstance(value, str | bool) else float(value)
        return 0.0 if self.is_delay else 1.0


SURPLUS_WAFERS = Target("foundry", "surplus_wafers")


@dataclass(frozen=True)
class Vary:
    """One ``--vary`` axis."""

    target: Target
    values: tuple[Value, ...]


@dataclass(frozen=True)
class PolicyDrop:
    """A policy and the change that switches it off (``--policy-cost``)."""

    policy: str
    scenario: str
    target: Target
    value: Value
    description: str


POLICY_DROPS: tuple[PolicyDrop, ...] = (
    PolicyDrop(
        "third_party_share_cap",
        "no-third-party-share-cap",
        Target("policy", "third_party_max_share"),
        1.0,
        "third-party share cap (third_party_max_share set to 1)",
    ),
    PolicyDrop(
        "internal_min_fill",
        "no-internal-min-fill",
        Target("customers", "min_fill"),
        0.0,
        "internal minimum fill (min_fill set to 0 for every customer)",
    ),
    PolicyDrop(
        "min_contract_racks",
        "no-min-contract-racks",
        Target("customers", "min_contract_racks"),
        0.0,
        "third-party minimum contract sizes (min_contract_racks set to 0)",
    ),
)
BASE_SCENARIO = "base"
PRIORITY_DROP = PolicyDrop(
    "priority_rule",
    "no-priority-rule",
    Target("policy", "priority_rule"),
    "profit",
    "priority tiers served first (priority_rule set to profit)",
)
"""Added to the policy costs when the base instance uses the lexicographic rule."""


def policy_drops(base: Instance) -> tuple[PolicyDrop, ...]:
    """The policies ``--policy-cost`` prices for ``base``: the three of every instance,
    and the priority rule where the base serves its tiers first."""
    return (*POLICY_DROPS, PRIORITY_DROP) if base.policy.is_lexicographic else POLICY_DROPS


@dataclass(frozen=True)
class Scenario:
    """One variant of the base instance. ``changes`` are (target, value): a policy value
    to set or a column factor; ``policy`` names the policy a policy-cost scenario drops."""

    name: str
    kind: Literal["sweep", "policy_cost"]
    surplus_scale: float = 1.0
    changes: tuple[tuple[Target, Value], ...] = ()
    policy: str | None = None

    def value(self, target: Target, base: Instance) -> Value:
        """This scenario's value for ``target`` (the base value where it leaves it)."""
        for changed, value in self.changes:
            if changed == target:
                return value
        return target.base_value(base)

    def canonical_changes(self, base: Instance) -> list[tuple[str, Value]]:
        """The changes that change something, sorted: equal content, equal list."""
        changes: list[tuple[str, Value]] = [
            (target.name, value)
            for target, value in self.changes
            if value != target.base_value(base)
        ]
        if self.surplus_scale != 1.0:
            changes.append(("surplus_scale", self.surplus_scale))
        return sorted(changes)


@dataclass(frozen=True)
class SweepSpec:
    """What the command line asked for."""

    surplus_scales: tuple[float, ...] = (1.0,)
    varies: tuple[Vary, ...] = ()
    policy_cost: bool = False


# --- parsing the command line's sweep definition -------------------------------------


def parse_numbers(text: str, what: str) -> tuple[float, ...]:
    """``"0,0.5,1"`` -> (0.0, 0.5, 1.0): finite numbers, duplicates dropped, order kept."""
    values: list[float] = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = float(part)
        except ValueError:
            raise WhatifError(f"{what}: {part!r} is not a number") from None
        if not math.isfinite(value):
            raise WhatifError(f"{what}: {part!r} is not a finite number")
        if value not in values:
            values.append(value)
    return tuple(values)


def parse_surplus_scales(text: str) -> tuple[float, ...]:
    scales = parse_numbers(text, "--surplus-scale")
    negative = [scale for scale in scales if scale < 0]
    if negative:
        raise WhatifError(f"--surplus-scale: factors must be >= 0 (got {negative[0]:g})")
    return tuple(sorted(scales))


def parse_target(name: str) -> Target:
    """``policy.KEY``, ``TABLE.COLUMN`` with a numeric, non-period column, or
    ``delay.PRODUCT`` (the product is checked against the instance, `check_delays`)."""
    table, dot, column = name.strip().partition(".")
    if not dot or not table or not column:
        raise WhatifError(
            f"--vary {name!r}: name policy.KEY, TABLE.COLUMN or delay.PRODUCT (for example "
            "policy.third_party_max_share, orders.price_per_rack or delay.trainium4)"
        )
    if table == DELAY:
        return Target(table, column)
    if table == "policy":
        if column not in POLICY_KEYS:
            raise WhatifError(
                f"--vary {name!r}: unknown policy key {column!r} (known: {', '.join(POLICY_KEYS)})"
            )
        return Target(table, column)
    if table not in TABLES:
        known = ", ".join(["policy", DELAY, *TABLES])
        raise WhatifError(f"--vary {name!r}: unknown table {table!r} (known: {known})")
    scalable = scalable_columns(table)
    if column not in scalable:
        what = "unknown column" if column not in TABLES[table].column_names else "not scalable"
        raise WhatifError(
            f"--vary {name!r}: {what} {column!r} in {table} "
            f"(numeric columns that can be scaled: {', '.join(scalable) or 'none'})"
        )
    return Target(table, column)


def scalable_columns(table: str) -> list[str]:
    """Columns a ``--vary`` may multiply: numbers and counts, not ids or periods."""
    return [
        column.name
        for column in TABLES[table].columns
        if column.kind in ("int", "number") and not column.period
    ]


def parse_vary(text: str) -> Vary:
    """``NAME=V1,V2,...``: policy values are set (and must be in range, or one of a
    choice key's choices, or true/false), factors >= 0, delays whole months >= 0 (0,
    the product on time, is added first where not given: a slip's cost is measured
    against it)."""
    name, equals, values_text = text.partition("=")
    if not equals or not values_text.strip():
        raise WhatifError(f"--vary {text!r}: write NAME=V1,V2,... (for example policy.KEY=0.2,0.5)")
    target = parse_target(name)
    if target.is_policy:
        setting = next(item for item in SETTINGS if item.key == target.name)
        if setting.kind in ("choice", "bool"):
            return Vary(target, _parse_words(values_text, setting))
    values = parse_numbers(values_text, f"--vary {target.name}")
    if target.is_policy:
        for value in values:
            low = -math.inf if setting.minimum is None else setting.minimum
            high = math.inf if setting.maximum is None else setting.maximum
            if not low <= value <= high:
                raise WhatifError(
                    f"--vary {target.name}: {value:g} is out of range "
                    f"[{setting.minimum}, {setting.maximum if setting.maximum is not None else ''}]"
                )
    elif target.is_delay:
        wrong = [value for value in values if value < 0 or not float(value).is_integer()]
        if wrong:
            raise WhatifError(
                f"--vary {target.name}: a delay is a whole number of months >= 0 (got {wrong[0]:g})"
            )
        if 0.0 not in values:
            values = (0.0, *values)
    elif any(value < 0 for value in values):
        raise WhatifError(f"--vary {target.name}: factors must be >= 0")
    return Vary(target, values)


def _parse_words(text: str, setting: Setting) -> tuple[Value, ...]:
    """``lexicographic,profit`` or ``true,false``: a choice key's choices, a bool key's
    truth values; duplicates dropped, order kept."""
    allowed = setting.choices if setting.kind == "choice" else ("true", "false")
    values: list[Value] = []
    for part in text.split(","):
        word = part.strip().lower() if setting.kind == "bool" else part.strip()
        if word not in allowed:
            raise WhatifError(
                f"--vary {setting.key}: {part.strip()!r} is not one of {', '.join(allowed)}"
            )
        value: Value = word == "true" if setting.kind == "bool" else word
        if value not in values:
            values.append(value)
    return tuple(values)


def check_delays(varies: Sequence[Vary], instance: Instance) -> None:
    """Every ``delay.PRODUCT`` names a product of the instance, and its latest delay
    leaves the product's first month inside the horizon; `WhatifError` otherwise."""
    products = instance.products.set_index("product")["available_from"]
    for vary in varies:
        if not vary.target.is_delay:
            continue
        product = vary.target.column
        if product not in products.index:
            raise WhatifError(
                f"--vary {vary.target.name}: unknown product {product!r} "
                f"(known: {', '.join(map(str, products.index))})"
            )
        latest = int(products[product]) + int(max(vary.values))
        if latest > instance.periods:
            raise WhatifError(
                f"--vary {vary.target.name}: a delay of {max(vary.values):g} months moves "
                f"{product}'s first month to {latest}, past the last period "
                f"({instance.periods})"
            )


def check_varies(varies: Sequence[Vary]) -> None:
    names = [vary.target.name for vary in varies]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise WhatifError(f"--vary {repeated[0]} is given more than once: list its values once")
