"""The parts report.html's sections are built of: a titled section, a note, a Plotly figure.

A figure is embedded without plotly.js (the page inlines it once in its head), in a div
of its own id and height. Never imports Pyomo.
"""

from __future__ import annotations

import html
from typing import Any

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


def section_html(anchor: str, heading: str, *parts: str) -> str:
    """A titled section with the id ``anchor`` (the page's links lead to it)."""
    return f'<section id="{anchor}"><h2>{html.escape(heading)}</h2>{"".join(parts)}</section>'


def note_html(text: str) -> str:
    """A short grey explanation under a heading."""
    return f'<p class="note">{html.escape(text)}</p>'


def figure_html(figure: Any, anchor: str, height: int) -> str:
    """A Plotly figure as a div of id ``anchor`` and ``height`` pixels, without plotly.js."""
    import plotly.io

    figure.update_layout(template="plotly_white", height=height, margin={"t": 40, "b": 40})
    return (
        '<div class="chart">'
        + plotly.io.to_html(
            figure,
            full_html=False,
            include_plotlyjs=False,
            div_id=anchor,
            default_height=f"{height}px",
            default_width="100%",
            config=PLOTLY_CONFIG,
        )
        + "</div>"
    )
