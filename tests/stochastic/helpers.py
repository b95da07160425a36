"""Helpers of the two-stage tests: tiny instances and scenario files written from rows, the
command in this process, and the files a run writes, read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from typer.testing import CliRunner, Result

from allocator.cli import app

RUNNER = CliRunner()

HEADERS = {
    "products": "product,available_from,wafers_per_rack,power_kw,holding_cost,initial_inventory",
    "supply": "product,period,base_racks,surplus_max_racks,surplus_cost",
    "foundry": "period,surplus_wafers",
    "customers": "customer,segment,region,min_fill,onboarding_cost,min_contract_racks",
    "orders": "order,customer,product,period,racks,price_per_rack,max_delay,delay_penalty",
    "services": "service,product,margin_per_rack",
    "attach": "customer,service,attach_rate",
}


def cli(*args: str | Path) -> Result:
    return RUNNER.invoke(app, [str(arg) for arg in args], catch_exceptions=False)


def write_instance(folder: Path, periods: int, tables: dict[str, list[str]]) -> Path:
    """``instance.toml`` (share cap 1, shortfall penalty 1000) and every table: the rows
    given (CSV lines), header only otherwise."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "instance.toml").write_text(
        f'name = "{folder.name}"\nperiods = {periods}\n'
        "[policy]\nthird_party_max_share = 1.0\ninternal_shortfall_penalty = 1000.0\n",
        encoding="utf-8",
    )
    for name, header in HEADERS.items():
        lines = [header, *tables.get(name, [])]
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def write_scenarios(path: Path, rows: list[str]) -> Path:
    path.write_text(
        "scenario,probability,target,value\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    return path


def surplus_instance(folder: Path) -> Path:
    """One period, no base racks, up to 10 surplus racks at 50 each (1 wafer, 10
    offered); internal B orders 10 racks at 100 (no min fill)."""
    return write_instance(
        folder,
        1,
        {
            "products": ["P,1,1,1,0,0"],
            "supply": ["P,1,0,10,50"],
            "foundry": ["1,10"],
            "customers": ["B,internal,r,0,0,0"],
            "orders": ["ob,B,P,1,10,100,0,0"],
        },
    )


def deal_instance(folder: Path) -> Path:
    """One period, 10 base racks, no surplus; third-party T orders 10 at 200 with a
    5-rack minimum and 100 onboarding; internal B orders 10 at 100."""
    return write_instance(
        folder,
        1,
        {
            "products": ["P,1,1,1,0,0"],
            "supply": ["P,1,10,0,0"],
            "customers": ["T,third_party,t,0,100,5", "B,internal,r,0,0,0"],
            "orders": ["ot,T,P,1,10,200,0,0", "ob,B,P,1,10,100,0,0"],
        },
    )


def record_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "stochastic.json").read_text(encoding="utf-8"))


def results_of(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "scenario_results.csv", keep_default_na=True)


def summary_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))
