"""The terminal answer of ``allocator promise``: both answers and the orders losing racks."""

from __future__ import annotations

from typing import Any

from allocator.promising.answer import PromiseAnswer

SHOWN_ORDERS = 10
"""Orders losing racks listed in the terminal (all of them are in the JSON)."""


def _money(value: float, currency: str) -> str:
    return f"{value:+,.0f} {currency}"


def _schedule(answer: PromiseAnswer, schedule: list[tuple[int, int]] | tuple[Any, ...]) -> str:
    if not schedule:
        return "-"
    labels = answer.period_labels
    return ", ".join(f"{labels.get(t, f'P{t}')}: {racks:,}" for t, racks in schedule)


def _order_lines(answer: PromiseAnswer) -> list[tuple[str, str]]:
    order = answer.order
    labels = answer.period_labels
    window = f"{labels[order.period]}" + (
        f"..{labels[order.last_ship]}" if order.last_ship != order.period else ""
    )
    currency = answer.currency
    return [
        (
            "new order",
            f"{order.order}: {order.racks:,} racks of {order.product} for {order.customer} "
            f"({order.segment}, {order.region}), {window}",
        ),
        (
            "value per rack",
            f"{order.price_per_rack:,.0f} {currency} ({order.price_source}) + service margin "
            f"{order.margin_per_rack:,.0f}; delay penalty {order.delay_penalty:,.0f} per period",
        ),
        ("plan", f"{answer.plan_source} (objective {answer.plan_objective:,.0f} {currency})"),
    ]


def _available_lines(answer: PromiseAnswer) -> list[tuple[str, str]]:
    available = answer.available
    currency = answer.currency
    lines = [
        ("available racks", f"{available.racks:,} of {answer.order.racks:,}"),
        ("  schedule", _schedule(answer, available.schedule)),
        (
            "  extra surplus",
            _schedule(answer, [(t, racks) for _, t, racks in available.surplus])
            + (f" ({available.surplus[0][0]})" if available.surplus else ""),
        ),
    ]
    if available.limits:
        lines.append(("  held back by", "; ".join(answer.limit_texts())))
    if available.deal_started:
        lines.append(("  deal", f"starts {answer.order.customer}'s deal (onboarding cost)"))
    lines.append(("  objective change", _money(available.objective_change, currency)))
    return lines


def _capable_lines(answer: PromiseAnswer) -> list[tuple[str, str]]:
    capable = answer.capable
    if capable is None:
        return [("capable racks", "not asked (--available-only)")]
    gap = capable.mip_gap
    gap_text = "-" if gap is None else f"{gap:.4%}" if gap == 0 or gap >= 1e-6 else f"{gap:.1e}"
    losing = capable.orders_losing
    lost = sum(order.racks_before - order.racks_after for order in losing)
    lines = [
        ("capable racks", f"{capable.racks:,} of {answer.order.racks:,}"),
        ("  schedule", _schedule(answer, capable.schedule)),
        ("  objective change", _money(capable.objective_change, answer.currency)),
        (
            "  orders losing",
            f"{len(losing):,} orders lose {lost:,} racks; others gain {capable.racks_gained:,}"
            if losing
            else "none",
        ),
        ("  solve", f"{capable.status}, gap {gap_text}, {capable.seconds:.1f} s"),
    ]
    if capable.held_by_tiers:
        taken = "; ".join(
            f"tier {tier} got {racks:,} racks of {answer.order.product} in its window"
            for tier, racks in capable.held_by_tiers
        )
        lines.insert(2, ("  held back by", f"{taken} (served first: it is tier {capable.tier})"))
    return lines


def print_answer(answer: PromiseAnswer) -> None:
    """Both answers as a rich table; the orders losing racks below it (the first
    `SHOWN_ORDERS`); then the notes."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    order = answer.order
    table = Table(
        title=f"promise {order.racks:,} racks of {order.product} to {order.customer} in "
        f"{answer.period_labels[order.period]}",
        show_header=False,
    )
    table.add_column("", style="bold")
    table.add_column("")
    sections = (
        _order_lines(answer),
        [("available to promise", "every shipment of the plan kept")],
        _available_lines(answer),
        [("capable to promise", "the whole plan solved again with the order")],
        _capable_lines(answer),
    )
    for index, lines in enumerate(sections):
        if index in (1, 3):
            table.add_section()
        for name, text in lines:
            table.add_row(name, text)
    console.print(table)
    capable = answer.capable
    if capable is not None and capable.orders_losing:
        losing = Table(title="orders losing racks")
        for column in ("order", "customer", "racks before", "racks after"):
            losing.add_column(column, justify="right" if column.startswith("racks") else "left")
        for lost in capable.orders_losing[:SHOWN_ORDERS]:
            losing.add_row(
                lost.order,
                lost.customer,
                f"{lost.racks_before:,}",
                f"{lost.racks_after:,}",
            )
        more = len(capable.orders_losing) - SHOWN_ORDERS
        if more > 0:
            losing.caption = f"and {more:,} more (--json lists them all)"
        console.print(losing)
    for note in answer.notes:
        console.print(f"note: {note}")
