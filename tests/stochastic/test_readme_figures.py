"""The base-2027 two-stage figures the README quotes are what ``allocator stochastic``
gives with the shipped scenarios.csv and default options (a few minutes on 2 cores:
marked slow, deselect with ``-m 'not slow'``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.stochastic.helpers import cli, record_of

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "instances" / "base-2027"
FIGURES = ("rp", "ws", "eev", "vss", "evpi")


def quoted() -> dict[str, float]:
    """The README's table of base-2027's stochastic.json figures: ``| `rp` | 1,234 |``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = {
        name: float(value.replace(",", ""))
        for name, value in re.findall(r"^\| `(rp|ws|eev|vss|evpi)` \| ([0-9,.\-]+) \|", text, re.M)
    }
    assert sorted(found) == sorted(FIGURES), found
    return found


def test_the_readme_quotes_its_figures_once() -> None:
    figures = quoted()
    assert figures["vss"] == pytest.approx(figures["rp"] - figures["eev"], abs=1.0)
    assert figures["evpi"] == pytest.approx(figures["ws"] - figures["rp"], abs=1.0)
    assert figures["eev"] <= figures["rp"] <= figures["ws"]


@pytest.mark.slow
def test_the_readme_figures_are_what_the_command_gives(tmp_path: Path) -> None:
    out = tmp_path / "two-stage"
    result = cli("stochastic", BASE, "--scenarios", BASE / "scenarios.csv", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    record = record_of(out)
    for name, value in quoted().items():
        assert record[name] == pytest.approx(value, rel=1e-9, abs=1.0), name
    recourse = record["recourse"]
    assert recourse["plan_source"] == "lp_rounding", recourse  # HiGHS stopped at its gap
    assert recourse["rp"] == recourse["lp_rounding_rp"]
    assert recourse["status"] == "optimal" and recourse["mip_gap"] <= 1e-4
