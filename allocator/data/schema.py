"""The input schema as data: every table, every column, its kind, unit and meaning.

One table drives parsing (`allocator.data.read`), validation (`allocator.data.validate`) and the
README's input reference (`python -m allocator.data.schema` prints it), so they cannot
drift apart. Names follow docs/contract.md exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["id", "ref", "segment", "int", "number"]

MAX_PERIODS = 1200
"""Most planning periods (100 years of months): the model has variables per period, so a
mistyped ``periods = 1000000000`` must be an error, not an attempt to allocate GiBs."""
MAX_RACKS = 10**9
"""Most racks in any count column (orders, supply, stock, contract sizes). Checked on the
parsed number before it becomes an integer: far inside float64's exact integers (2^53) and
int64, so no count can wrap around."""
MAX_MONEY = 1e12
"""Largest price, cost or penalty, in currency per rack (or per rack and period). HiGHS
reads a cost of 1e20 or more as infinite and loses precision long before; a trillion
per rack is far above any real value."""
MAX_RATE = 1e6
"""Largest per-rack physical rate: wafers per rack, kW per rack."""
MAX_AMOUNT = 1e12
"""Largest wafer or kW amount (foundry surplus wafers, region power)."""
MAX_PRIORITY = 1_000_000
"""Largest priority number (tiers are solved one stage each, so real ones are few)."""
PRIORITY_RULES = ("profit", "lexicographic")
"""``policy.priority_rule``: profit alone, or the tiers' stages first."""


@dataclass(frozen=True)
class Column:
    """One input column.

    ``kind`` decides parsing: ``id``/``ref``/``segment`` are non-empty text, ``int``
    must be a whole number, ``number`` any finite number. ``minimum``/``maximum``
    bound the value (inclusive). ``ref`` names the ``(table, column)`` a value must
    exist in. ``period`` marks columns that must lie in ``1..periods``. A column with a
    ``default`` is optional: a file without it, or an empty cell, means the default.
    ``scalable`` says whether a what-if may multiply it (`allocator.whatif.spec`).
    """

    name: str
    kind: Kind
    unit: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    ref: tuple[str, str] | None = None
    period: bool = False
    default: float | None = None
    scalable: bool = True


@dataclass(frozen=True)
class Table:
    """One input table: a CSV file ``<name>.csv`` or a sheet ``<name>`` of a workbook."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str
    optional: bool = False

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


def _money(name: str, description: str) -> Column:
    return Column(name, "number", "currency", description, minimum=0.0, maximum=MAX_MONEY)


def _period(name: str, description: str) -> Column:
    return Column(name, "int", "period", description, minimum=1, period=True)


def _racks(name: str, description: str, minimum: int = 0) -> Column:
    return Column(name, "int", "racks", description, minimum=minimum, maximum=MAX_RACKS)


TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table(
            "products",
            (
                Column("product", "id", "", "product name, e.g. `trainium`"),
                _period("available_from", "first period the product can ship"),
                Column(
                    "wafers_per_rack",
                    "number",
                    "wafers/rack",
                    "surplus wafers one rack uses",
                    minimum=0.0,
                    maximum=MAX_RATE,
                ),
                Column(
                    "power_kw",
                    "number",
                    "kW/rack",
                    "power one rack draws",
                    minimum=0.0,
                    maximum=MAX_RATE,
                ),
                _money("holding_cost", "cost per rack per period in stock"),
                _racks("initial_inventory", "racks in stock before period 1"),
            ),
            key=("product",),
            description="The rack products.",
        ),
        Table(
            "supply",
            (
                Column("product", "ref", "", "product", ref=("products", "product")),
                _period("period", "period of output"),
                _racks("base_racks", "committed foundry output"),
                _racks("surplus_max_racks", "most surplus racks that can be assembled"),
                _money("surplus_cost", "cost per surplus rack made"),
            ),
            key=("product", "period"),
            description=(
                "Committed output and surplus limits; a missing row means 0 racks, 0 surplus."
            ),
        ),
        Table(
            "foundry",
            (
                _period("period", "period"),
                Column(
                    "surplus_wafers",
                    "number",
                    "wafers",
                    "surplus wafers offered, shared by all products",
                    minimum=0.0,
                    maximum=MAX_AMOUNT,
                ),
            ),
            key=("period",),
            description="Surplus wafers the foundry offers; a missing row means 0.",
        ),
        Table(
            "customers",
            (
                Column("customer", "id", "", "customer name"),
                Column("segment", "segment", "", "`internal` or `third_party`"),
                Column("region", "id", "", "region the racks are delivered to"),
                Column(
                    "min_fill",
                    "number",
                    "share",
                    "committed minimum fill rate (internal only, else 0)",
                    minimum=0.0,
                    maximum=1.0,
                ),
                _money(
                    "onboarding_cost",
                    "one-time cost of accepting the deal (third_party only, else 0)",
                ),
                _racks("min_contract_racks", "smallest deal accepted (third_party only, else 0)"),
                Column(
                    "priority",
                    "int",
                    "tier",
                    "service tier, 1 served first (with `policy.priority_rule = "
                    '"lexicographic"`); optional, a missing column or empty cell means 1',
                    minimum=1,
                    maximum=MAX_PRIORITY,
                    default=1,
                    scalable=False,
                ),
            ),
            key=("customer",),
            description="Internal cloud regions and third-party buyers.",
        ),
        Table(
            "orders",
            (
                Column("order", "id", "", "order name"),
                Column("customer", "ref", "", "customer", ref=("customers", "customer")),
                Column("product", "ref", "", "product", ref=("products", "product")),
                _period("period", "requested delivery period"),
                _racks("racks", "racks ordered", minimum=1),
                _money(
                    "price_per_rack", "value (internal) or sale price (third_party) of one rack"
                ),
                Column(
                    "max_delay",
                    "int",
                    "periods",
                    "most periods the order may ship late",
                    minimum=0,
                    maximum=MAX_PERIODS,
                ),
                _money("delay_penalty", "cost per rack per period late"),
            ),
            key=("order",),
            description="Orders: what each customer asks for, when and at what price.",
        ),
        Table(
            "services",
            (
                Column("service", "id", "", "service name, e.g. `storage`"),
                Column("product", "ref", "", "product", ref=("products", "product")),
                Column(
                    "margin_per_rack",
                    "number",
                    "currency/rack",
                    "lifetime margin of the service on one rack",
                    minimum=0.0,
                    maximum=MAX_MONEY,
                ),
            ),
            key=("service", "product"),
            description="The service waterfall: margin of each attached service per rack.",
        ),
        Table(
            "attach",
            (
                Column("customer", "ref", "", "customer", ref=("customers", "customer")),
                Column("service", "ref", "", "service", ref=("services", "service")),
                Column(
                    "attach_rate",
                    "number",
                    "share",
                    "share of racks that attach the service",
                    minimum=0.0,
                    maximum=1.0,
                ),
            ),
            key=("customer", "service"),
            description="Attach rate of each service per customer; a missing row means 0.",
        ),
        Table(
            "regions",
            (
                Column("region", "id", "", "region"),
                _period("period", "period"),
                Column(
                    "power_kw",
                    "number",
                    "kW",
                    "cumulative power available for racks delivered up to this period",
                    minimum=0.0,
                    maximum=MAX_AMOUNT,
                ),
            ),
            key=("region", "period"),
            description="Region power limits; a region or period without a row is unconstrained.",
            optional=True,
        ),
        Table(
            "substitutes",
            (
                Column("order", "ref", "", "order", ref=("orders", "order")),
                Column(
                    "product",
                    "ref",
                    "",
                    "another product the order may be served with",
                    ref=("products", "product"),
                ),
                _money(
                    "price_per_rack",
                    "what one rack of this product is worth to the customer (or sold for)",
                ),
            ),
            key=("order", "product"),
            description=(
                "Substitute products: an order may also be served with another product, at "
                "its own price; the order's window rules, delay penalty and customer stay its "
                "own."
            ),
            optional=True,
        ),
    )
}

SEGMENTS = ("internal", "third_party")


@dataclass(frozen=True)
class Setting:
    """One key of `instance.toml` (``policy.`` prefix for the ``[policy]`` table).
    ``choice`` keys take one of ``choices``; ``bool`` keys true or false."""

    key: str
    kind: Literal["text", "int", "number", "choice", "bool"]
    description: str
    required: bool = True
    default: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


SETTINGS: tuple[Setting, ...] = (
    Setting("name", "text", "instance name"),
    Setting("periods", "int", "number of planning periods", minimum=1, maximum=MAX_PERIODS),
    Setting("start", "text", "label of period 1, `YYYY-MM` (reports only)", required=False),
    Setting("currency", "text", "currency of all money columns", required=False, default="USD"),
    Setting(
        "policy.third_party_max_share",
        "number",
        "third-party racks <= share * all racks shipped",
        minimum=0.0,
        maximum=1.0,
    ),
    Setting(
        "policy.internal_shortfall_penalty",
        "number",
        "cost per rack an internal customer falls short of its min fill",
        minimum=0.0,
        maximum=MAX_MONEY,
    ),
    Setting(
        "policy.priority_rule",
        "choice",
        "`profit`: maximize the objective; `lexicographic`: serve the tiers of "
        "`customers.csv` `priority` first, one stage each, then profit",
        required=False,
        default="profit",
        choices=PRIORITY_RULES,
    ),
    Setting(
        "policy.fair_share",
        "bool",
        "with `lexicographic`: raise each tier's lowest fill rate first",
        required=False,
        default="false",
    ),
)


def reference_markdown() -> str:
    """The README's input reference, generated from this schema."""
    lines = ["`instance.toml`", "", "| key | type | required | meaning |", "|---|---|---|---|"]
    for setting in SETTINGS:
        required = "yes" if setting.required else f"no (default {setting.default or 'none'})"
        kind = " or ".join(f"`{choice}`" for choice in setting.choices) or setting.kind
        lines.append(f"| `{setting.key}` | {kind} | {required} | {setting.description} |")
    for table in TABLES.values():
        optional = " (optional)" if table.optional else ""
        key = ", ".join(f"`{name}`" for name in table.key)
        lines += ["", f"`{table.file_name}`{optional}: {table.description} Unique key: {key}.", ""]
        lines += ["| column | type | unit | range | meaning |", "|---|---|---|---|---|"]
        for column in table.columns:
            kind = f"ref to {column.ref[0]}.{column.ref[1]}" if column.ref else column.kind
            if column.default is not None:
                kind += f", optional (default {_number_text(column.default)})"
            lines.append(
                f"| `{column.name}` | {kind} | {column.unit} | {_range_text(column)} "
                f"| {column.description} |"
            )
    return "\n".join(lines) + "\n"


def _range_text(column: Column) -> str:
    if column.period:
        return "1..periods"
    if column.minimum is None and column.maximum is None:
        return ""
    return bounds_text(column.minimum, column.maximum)


def bounds_text(low: float | None, high: float | None) -> str:
    """``[0, 1]``, ``>= 0`` or ``<= 5``: a range as messages and the reference show it."""
    if high is None:
        return f">= {_number_text(low)}" if low is not None else "any value"
    if low is None:
        return f"<= {_number_text(high)}"
    return f"[{_number_text(low)}, {_number_text(high)}]"


def _number_text(value: float) -> str:
    """Whole numbers in full (``1000000000``), others as ``%g``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


if __name__ == "__main__":
    print(reference_markdown(), end="")
