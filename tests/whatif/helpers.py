"""Helpers of the what-if tests: the CLI in this process, a small generated instance, and
the files a sweep writes, read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from typer.testing import CliRunner, Result

from allocator.cli import app
from allocator.data.generate import generate_instance
from allocator.solver.highs import SolverOptions
from allocator.solver.pipeline import RunOptions
from allocator.whatif.spec import Target

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "instances" / "tiny"
RUNNER = CliRunner()
EXACT = RunOptions(SolverOptions(mip_gap=0.0))
SHARE = Target("policy", "third_party_max_share")


def cli(*args: str | Path) -> Result:
    return RUNNER.invoke(app, [str(arg) for arg in args], catch_exceptions=False)


def generated(folder: Path, seed: int) -> Path:
    """A small synthetic instance (about 150 integer variables) where the third-party
    share cap, the internal min fill and the minimum contract sizes all bind (seed 1)."""
    generate_instance(folder, regions=2, buyers=6, periods=6, seed=seed)
    return folder


def sweep_of(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "sweep.csv", keep_default_na=True).set_index("scenario")


def summary_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def marker_of(out: Path, name: str) -> dict[str, Any]:
    return json.loads((out / "scenarios" / name / "scenario.json").read_text(encoding="utf-8"))
