"""``report.html``: one self-contained page a planner opens offline. Never imports Pyomo.

Charts are Plotly figures; plotly.js is inlined once in the page's head and every
figure's data is inline, so the page makes no network request. Tables sort on a click
of their header and filter as you type (a few lines of inline JavaScript). Money is
shown in the instance's currency, racks as whole numbers, periods as month labels.

This module assembles the page (its header of facts, the links to its sections, the
sections of a plan and of a what-if sweep) from its parts: `plan_figures` and
`sweep_figures` (charts), `page_tables` (tables), `page_blocks` (section, note, figure),
`page_formats` (how values read) and `page_assets` (skeleton, CSS, script).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from allocator.formats import format_racks
from allocator.outputs.folder import ResultFolder, fairness_table, lowest_internal_fill
from allocator.outputs.generations import has_substitutes, substitute_orders
from allocator.outputs.page_assets import PAGE, STYLE, TABLE_SCRIPT
from allocator.outputs.page_blocks import figure_html, note_html, section_html
from allocator.outputs.page_formats import show_money
from allocator.outputs.page_priority import tier_section
from allocator.outputs.page_tables import (
    allocation_columns,
    customer_columns,
    fairness_columns,
    marginal_columns,
    stock_columns,
    substitute_columns,
    sweep_columns,
    table_html,
)
from allocator.outputs.plan_figures import (
    generation_figure,
    heatmap_figure,
    supply_figure,
    wafer_figure,
    waiting_figure,
    waterfall_figure,
)
from allocator.outputs.sweep import sweep_lines
from allocator.outputs.sweep_figures import policy_cost_figure, sweep_figure
from allocator.outputs.tiers import has_tiers
from allocator.outputs.two_stage_page import two_stage_sections


def render_report(folder: ResultFolder) -> str:
    """The whole page as one HTML string."""
    import plotly.offline

    sections: list[str] = []
    if folder.has_plan:
        sections += _plan_sections(folder)
    if folder.sweep is not None:
        sections += _sweep_sections(folder)
    if folder.stochastic is not None:
        sections += two_stage_sections(folder)
    kind = "plan" if folder.has_plan else "two-stage plan" if folder.stochastic else "what-if"
    title = f"allocator {kind}: {folder.name}"
    return PAGE.format(
        title=html.escape(title),
        style=STYLE,
        plotly_js=plotly.offline.get_plotlyjs().replace("</script", "<\\/script"),
        header=_header(folder, title),
        nav=_nav(sections),
        body="\n".join(sections),
        script=TABLE_SCRIPT,
    )


def _header(folder: ResultFolder, title: str) -> str:
    summary = folder.summary
    facts: list[tuple[str, str]] = []
    if summary:
        instance = summary.get("instance") or {}
        gap = summary.get("mip_gap")
        facts += [
            ("status", str(summary.get("status"))),
            ("objective", show_money(folder, summary.get("objective"))),
            ("best bound", show_money(folder, summary.get("best_bound"))),
            ("MIP gap", "-" if gap is None else f"{float(gap):.4%}"),
            ("solve time", f"{float(summary.get('solve_seconds') or 0):,.2f} s"),
            ("months", _months(folder)),
            ("instance", str(instance.get("source", ""))),
            ("written", str(summary.get("written_at", ""))),
        ]
    cards = "".join(
        f'<div class="fact"><span>{html.escape(k)}</span><b>{html.escape(v)}</b></div>'
        for k, v in facts
    )
    return f"<h1>{html.escape(title)}</h1><div class='facts'>{cards}</div>"


def _months(folder: ResultFolder) -> str:
    labels = folder.period_labels
    if not labels:
        return "-"
    return f"{labels[min(labels)]} .. {labels[max(labels)]} ({len(labels)})"


def _nav(sections: Sequence[str]) -> str:
    links = []
    for section in sections:
        start = section.find('id="') + 4
        anchor = section[start : section.find('"', start)]
        heading = section[section.find("<h2>") + 4 : section.find("</h2>")]
        links.append(f'<a href="#{anchor}">{heading}</a>')
    return " · ".join(links)


def _plan_sections(folder: ResultFolder) -> list[str]:
    assert folder.customers is not None
    customers = folder.customers
    sections = [
        section_html(
            "waterfall",
            "Revenue waterfall",
            note_html(
                "Rack revenue by segment, the margin of each attached service, then every "
                "cost and penalty, down to the objective (summary.json objective_terms)."
            ),
            figure_html(waterfall_figure(folder), "chart-waterfall", 460),
        ),
        section_html(
            "fairness",
            "Fill rate and fairness",
            _fairness_summary(folder),
            table_html("table-fairness", *fairness_columns(folder, fairness_table(customers))),
        ),
        section_html(
            "why-short",
            "Waiting list and why each buyer is short",
            note_html(_why_note(folder)),
            figure_html(*waiting_figure(folder)),
            table_html("table-customers", *customer_columns(folder)),
        ),
        section_html(
            "heatmap",
            "Allocation: racks shipped per customer and month",
            figure_html(*heatmap_figure(folder)),
        ),
        section_html(
            "supply",
            "Supply against shipments and stock",
            note_html(
                "Per product and month: base racks and surplus racks made (bars), racks "
                "shipped and end-of-month stock (lines)."
            ),
            figure_html(*supply_figure(folder)),
            table_html("table-stock", *stock_columns(folder)),
        ),
    ]
    if has_tiers(folder.summary):
        sections.append(tier_section(folder))
    if has_substitutes(folder.allocation):
        sections.append(
            section_html(
                "generations",
                "Generations: racks by ordered and shipped product",
                note_html(_generations_note(folder)),
                figure_html(*generation_figure(folder)),
                table_html("table-substitutes", *substitute_columns(folder)),
            )
        )
    if folder.marginal_values is not None:
        sections.append(
            section_html(
                "marginal-values",
                "Marginal value of a surplus wafer",
                note_html(_marginal_note(folder)),
                figure_html(wafer_figure(folder), "chart-wafer", 380),
                table_html("table-marginal", *marginal_columns(folder)),
            )
        )
    assert folder.allocation is not None
    sections.append(
        section_html(
            "allocation",
            "Allocation rows",
            table_html("table-allocation", *allocation_columns(folder)),
        )
    )
    return sections


def _generations_note(folder: ResultFolder) -> str:
    orders = substitute_orders(folder.allocation)
    waited = orders[orders["first_ship_period"] > orders["period"]]["order"].nunique()
    return (
        "Racks shipped per month by the product each order named and, hatched, racks of "
        f"a substitute shipped instead. {orders['order'].nunique():,} orders took a "
        f"substitute ({float(orders['racks'].sum()):,.0f} racks), {waited:,} of them "
        "later than the month they asked for; the table lists each."
    )


def _why_note(folder: ResultFolder) -> str:
    source = folder.summary.get("marginal_values_source")
    duals = {
        "lp": "the LP's duals",
        "lp_relaxation": "the duals of the LP relaxation (the plan itself is the MIP's)",
    }.get(str(source), "no marginal values")
    return (
        "Each reason is checked against the plan and the model's data and carries its "
        f"number; marginal values are {duals}. Customers with no waiting list have none."
    )


def _marginal_note(folder: ResultFolder) -> str:
    source = folder.summary.get("marginal_values_source")
    which = "the LP" if source == "lp" else "the LP relaxation of the MIP"
    return (
        f"What one more surplus wafer offered in a month adds to the objective "
        f"({folder.currency} per wafer, dual of the foundry surplus row of {which})."
    )


def _fairness_summary(folder: ResultFolder) -> str:
    assert folder.customers is not None
    lowest = lowest_internal_fill(folder.customers)
    fill = folder.summary.get("fill") or {}
    parts = []
    for segment in ("internal", "third_party"):
        figures = fill.get(segment) or {}
        if figures.get("fill_rate") is not None:
            parts.append(
                f"{segment}: {figures['fill_rate']:.1%} "
                f"({format_racks(figures['allocated_racks'])} of "
                f"{format_racks(figures['requested_racks'])} racks)"
            )
    if lowest is not None:
        parts.append(f"lowest internal fill rate: {lowest[1]:.1%} ({lowest[0]})")
    return note_html("; ".join(parts)) if parts else ""


def _sweep_sections(folder: ResultFolder) -> list[str]:
    assert folder.sweep is not None
    sections = []
    series, points = sweep_lines(folder.sweep)
    if points["surplus_scale"].nunique() >= 2:
        sections.append(
            section_html(
                "sweep-chart",
                "What-if: objective and internal waiting list against surplus scale",
                note_html(
                    "Each point is a full solve with the foundry's surplus wafers scaled in "
                    "every month; triangles mark breakpoints, where the value of one more "
                    "surplus wafer (the slope) drops."
                ),
                figure_html(sweep_figure(folder, series, points), "chart-sweep", 620),
            )
        )
    if folder.policy_cost is not None and folder.policy_cost["cost"].notna().any():
        sections.append(
            section_html(
                "policy-cost",
                "What each policy costs",
                figure_html(policy_cost_figure(folder), "chart-policy-cost", 320),
            )
        )
    sweep_table = table_html("table-sweep", *sweep_columns(folder))
    sections.append(section_html("sweep", "What-if scenarios", sweep_table))
    return sections
