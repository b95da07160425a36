"""How report.html shows a value: money, racks, rates and months, in cells and chart labels.

A `Formatter` turns a table cell's raw value into its text (the raw value stays the
cell's sort key); `show_money` also labels chart bars and hovers, and `money_scale` picks
the unit of a money axis. Never imports Pyomo.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from allocator.formats import format_money, format_racks
from allocator.outputs.folder import ResultFolder

Formatter = Callable[[Any], str]


def is_missing(value: Any) -> bool:
    """None or NaN: an empty cell."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def show_text(value: Any) -> str:
    return str(value)


def show_racks(value: Any) -> str:
    return format_racks(float(value))


def show_rate(value: Any) -> str:
    return f"{float(value):.1%}"


def show_money(folder: ResultFolder, value: Any) -> str:
    """Compact money in the instance's currency (``USD 5.75M``); ``-`` when missing."""
    if is_missing(value):
        return "-"
    return format_money(float(value), folder.currency)


def show_full_money(value: Any) -> str:
    """Money to the unit (to the cent below 100), without a currency."""
    number = float(value)
    return f"{number:,.0f}" if abs(number) >= 100 or number == 0 else f"{number:,.2f}"


def show_month(folder: ResultFolder) -> Formatter:
    """Periods shown as the folder's month labels."""
    return lambda value: folder.label(value)


def money_scale(values: Sequence[float]) -> tuple[float, str]:
    """The divisor and suffix (``bn``, ``M``, ``k``) of a money axis holding ``values``."""
    largest = max((abs(value) for value in values), default=0.0)
    for scale, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if largest >= scale:
            return scale, suffix
    return 1.0, ""
