"""Numbers as planners read them: compact money, whole racks, racks with their noun.

Used by the explanations (`allocator.explain`) and every output a person reads
(`allocator.outputs`, the console tables), so one figure reads the same everywhere.
"""

from __future__ import annotations


def format_money(value: float, currency: str) -> str:
    """Compact money a planner reads: ``USD 5.75M``, ``USD 756.7k``, ``USD 80``."""
    for scale, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{currency} {_three_digits(value / scale)}{suffix}"
    if float(value).is_integer():
        return f"{currency} {value:,.0f}"
    return f"{currency} {_three_digits(value)}"


def _three_digits(value: float) -> str:
    """Three significant digits without an exponent: 5.75, 64.7, 812, 1,234."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def racks_text(racks: float) -> str:
    """``1 rack``, ``2 racks``, ``2.5 racks``."""
    return f"{format_racks(racks)} {'rack' if format_racks(racks) == '1' else 'racks'}"


def format_racks(racks: float) -> str:
    """Whole racks as ``1,234``; LP-relaxation racks keep one decimal."""
    if abs(racks - round(racks)) < 1e-6:
        return f"{round(racks):,}"
    return f"{racks:,.1f}"
