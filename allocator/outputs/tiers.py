"""The tier view of a plan under the lexicographic rule: its stages and fill by tier.

Both come from ``summary.json`` (``priority_stages``, ``fill.by_tier``,
``priority_cost``), so a result folder read back shows them as written. The report and
plan.xlsx show them; both are empty for a plan under the profit rule.
Never imports Pyomo.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

STAGE_COLUMNS = [
    "stage",
    "tier",
    "criterion",
    "value",
    "bound",
    "status",
    "marginal_cost",
    "seconds",
]
TIER_COLUMNS = [
    "tier",
    "customers",
    "requested_racks",
    "allocated_racks",
    "fill_rate",
    "lowest_fill_rate",
]


def has_tiers(summary: dict[str, Any]) -> bool:
    """Whether the plan was made under the lexicographic rule."""
    return bool(summary.get("priority_stages"))


def stage_table(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per stage in the order solved, profit last, with a readable ``stage``."""
    rows = []
    for stage in summary.get("priority_stages") or []:
        tier = stage.get("tier")
        label = "profit" if tier is None else f"tier {tier} {stage['criterion']}"
        rows.append({"stage": label, **stage})
    return pd.DataFrame(rows, columns=STAGE_COLUMNS)


def tier_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Per tier: customers, racks requested and allocated, fill rate, lowest fill rate."""
    fill = summary.get("fill") or {}
    return pd.DataFrame(fill.get("by_tier") or [], columns=TIER_COLUMNS)
