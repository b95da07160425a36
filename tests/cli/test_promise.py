"""``allocator promise`` end to end: JSON keys, exit codes, one-line errors, PLAN_DIR untouched.

The keys are the contract's (docs/contract.md, "Promising a new order") and the details
the README documents; a key renamed or dropped fails here. Every call, failed ones
included, leaves PLAN_DIR byte-identical.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import allocator
from allocator.cli import app
from allocator.promising.answer import JSON_KEYS, PromiseAnswer
from tests.promising.helpers import (
    customer,
    order,
    product,
    snapshot,
    solved,
    supply,
    tiny_instance,
)

ROOT = Path(__file__).resolve().parents[2]
RUNNER = CliRunner()
CONTRACT_KEYS = [
    "available_racks",
    "available_schedule",
    "available_surplus",
    "capable_racks",
    "objective_change",
    "orders_losing",
]
DETAIL_KEYS = ["order", "available", "capable", "plan", "notes"]
ORDER_KEYS = [
    "order",
    "customer",
    "segment",
    "region",
    "product",
    "racks",
    "period",
    "max_delay",
    "first_ship_period",
    "last_ship_period",
    "price_per_rack",
    "price_source",
    "delay_penalty",
    "margin_per_rack",
]
AVAILABLE_KEYS = ["limits", "deal_started", "objective_change", "seconds"]
CAPABLE_KEYS = [
    "schedule",
    "objective",
    "racks_gained_by_other_orders",
    "tier",
    "held_by_tiers",
    "plan_source",
    "status",
    "mip_gap",
    "seconds",
]
PLAN_KEYS = ["source", "objective", "instance"]


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 racks in period 1 and 2 in period 2 (surplus up to 2 in period 2 at 10); o1 (int1,
    100) takes 3 in period 1; int1 must get half of what it orders."""
    root = tmp_path_factory.mktemp("promise-cli")
    instance = tiny_instance(
        root / "instance",
        periods=2,
        products=[product()],
        supply_rows=[supply(1, 3), supply(2, 2, surplus_max=2, cost=10)],
        foundry=[{"period": 2, "surplus_wafers": 2}],
        customers=[customer("int1", min_fill=0.5), customer("int2"), customer("tp3")],
        orders=[order("o1", "int1", 1, 3, 100), order("o2", "int2", 2, 2, 30)],
        penalty=1000.0,
    )
    return solved(instance, root / "plan")


def promise(plan_dir: Path, *args: str) -> Result:
    """Run the command and check that PLAN_DIR is byte-identical afterwards."""
    before = snapshot(plan_dir)
    result = RUNNER.invoke(app, ["promise", str(plan_dir), *args])
    assert snapshot(plan_dir) == before
    return result


REQUEST = ["--customer", "int2", "--product", "p1", "--racks", "4", "--period", "1"]


def test_json_keys_are_stable(plan_dir: Path) -> None:
    result = promise(plan_dir, *REQUEST, "--max-delay", "1", "--price", "500", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == CONTRACT_KEYS + DETAIL_KEYS == list(JSON_KEYS)
    assert list(data["order"]) == ORDER_KEYS
    assert list(data["available"]) == AVAILABLE_KEYS
    assert list(data["capable"]) == CAPABLE_KEYS
    assert list(data["plan"]) == PLAN_KEYS
    assert list(data["plan"]["instance"]) == ["name", "source", "content_hash"]
    # o2 (2 racks in period 2, at 30) is displaced by racks worth 500
    assert data["available_racks"] == 2
    assert data["available_schedule"] == [{"period": 2, "racks": 2}]
    assert data["available_surplus"] == [{"product": "p1", "period": 2, "racks": 2}]
    assert data["capable_racks"] == 4
    assert data["orders_losing"] == [{"order": "o2", "racks_before": 2, "racks_after": 0}]
    assert data["objective_change"] == 4 * 500 - 2 * 30 - 2 * 10
    assert data["capable"]["schedule"] == [{"period": 2, "racks": 4}]


def test_available_only_has_null_capable_keys(plan_dir: Path) -> None:
    result = promise(plan_dir, *REQUEST, "--json", "--available-only")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == CONTRACT_KEYS + DETAIL_KEYS
    assert [data[key] for key in ("capable_racks", "objective_change", "orders_losing")] == [
        None,
        None,
        None,
    ]
    assert data["capable"] is None
    assert data["available_racks"] == 0  # nothing in period 1 is left, and no delay allowed


def test_table_by_default(plan_dir: Path) -> None:
    result = promise(plan_dir, *REQUEST, "--max-delay", "1", "--price", "500")
    assert result.exit_code == 0, result.output
    for text in ("available racks", "2 of 4", "capable racks", "4 of 4", "orders losing", "o2"):
        assert text in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--customer", "nobody"], "unknown customer 'nobody'"),
        (["--product", "p9"], "unknown product 'p9'"),
        (["--period", "3"], "period 3 is outside the plan's horizon: periods 1..2"),
        (["--period", "0"], "period 0 is outside the plan's horizon"),
        (["--customer", "tp3"], "tp3 has no order for p1"),
        (["--racks", "0"], "Invalid value for '--racks'"),
        (["--max-delay", "-1"], "Invalid value for '--max-delay'"),
        (["--price", "nan"], "price must be a finite amount"),
    ],
)
def test_bad_input_exits_2_with_one_message(plan_dir: Path, args: list[str], message: str) -> None:
    request = dict(zip(REQUEST[::2], REQUEST[1::2], strict=True))
    request.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = promise(plan_dir, *(item for pair in request.items() for item in pair))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_folder_without_plan_or_with_a_stale_one_exits_2(plan_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = promise(empty, *REQUEST)
    assert result.exit_code == 2 and "holds no plan" in result.output
    changed = tmp_path / "changed"
    instance = Path(json.loads((plan_dir / "summary.json").read_text())["instance"]["source"])
    changed.mkdir()
    for path in instance.iterdir():
        (changed / path.name).write_bytes(path.read_bytes())
    (changed / "supply.csv").write_text(
        "product,period,base_racks,surplus_max_racks,surplus_cost\np1,1,2,0,0\n"
    )
    result = promise(plan_dir, *REQUEST, "--instance", str(changed))
    assert result.exit_code == 2
    assert "fails its re-check against the instance" in result.output
    result = promise(plan_dir, *REQUEST, "--instance", str(tmp_path / "missing"))
    assert result.exit_code == 2


def test_strict_infeasible_capable_exits_3(plan_dir: Path) -> None:
    """int1 must get half of what it orders; an int1 order of 20 racks commits 10 more
    than exist: strict mode has no plan."""
    args = ["--customer", "int1", "--product", "p1", "--racks", "20", "--period", "1"]
    result = promise(plan_dir, *args, "--strict")
    assert result.exit_code == 3, result.output
    assert "capable to promise: the model is infeasible" in result.output


def test_available_only_never_loads_pyomo(plan_dir: Path) -> None:
    """The available answer is built on arrays and highspy alone (fast start-up)."""
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from allocator.cli import app\n"
        f"result = CliRunner().invoke(app, ['promise', {str(plan_dir)!r}, *{REQUEST!r}, "
        "'--available-only', '--json'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(any(name == 'pyomo' or name.startswith('pyomo.') for name in sys.modules))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert ran.stdout.strip() == "False", ran.stdout + ran.stderr


def _readme_examples() -> list[tuple[str, str]]:
    """The promise section's ``allocator promise`` commands and the output pasted below each."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Promise a new order") : text.index("### What-if sweeps")]
    pairs = re.findall(
        r"```bash\n(allocator promise [^\n]+)\n```\n\n```text\n(.*?)\n```", section, re.S
    )
    assert len(pairs) == 2, "the README's promise section has two commands with their output"
    return pairs


def _without_seconds(text: str) -> str:
    return re.sub(r"\d+\.\d s ", "#.# s ", text)


def test_readme_examples_are_the_real_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's worked example, run as a user runs it from a checkout: base-2027 solved
    with the Quick start's command, then each promise command; the tables must be the ones
    pasted (80 columns), but for the solve's seconds."""
    (tmp_path / "instances").symlink_to(ROOT / "instances")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    solve = RUNNER.invoke(app, ["solve", "instances/base-2027", "--out", "results/base-2027", "-q"])
    assert solve.exit_code == 0, solve.output
    for command, pasted in _readme_examples():
        args = shlex.split(command)[1:]
        result = RUNNER.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert _without_seconds(result.output.rstrip("\n")) == _without_seconds(pasted), command
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Promise a new order") : text.index("### What-if sweeps")]
    snippet = re.search(r"```python\n(.*?)```", section, re.S)
    assert snippet is not None
    namespace: dict[str, object] = {"allocator": allocator}
    exec(compile(snippet.group(1), "README.md", "exec"), namespace)
    answer = namespace["answer"]
    assert isinstance(answer, PromiseAnswer)
    expected = re.search(r"# (\d+), (\d+), (\d+)", snippet.group(1))
    assert expected is not None
    assert (answer.available_racks, answer.capable_racks, round(answer.objective_change or 0)) == (
        tuple(int(value) for value in expected.groups())
    )
