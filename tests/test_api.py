"""The Python API: the README's example runs as written, and what it returns equals what
`allocator solve` writes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

import allocator
from allocator.api import Result
from allocator.errors import PlanCheckError

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TINY = ROOT / "instances" / "tiny"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python API") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's Python API section has a python block"
    return match.group(1)


def test_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a user runs it from a checkout: relative paths, results/ written beside."""
    (tmp_path / "instances").symlink_to(ROOT / "instances")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    result = namespace["result"]
    assert isinstance(result, Result)
    assert result.status == "optimal"
    out = tmp_path / "results" / "base-2027-api"
    assert (out / "summary.json").is_file()
    written = pd.read_csv(out / "allocation.csv")
    pd.testing.assert_frame_equal(written, result.allocation.reset_index(drop=True))


def test_api_result_equals_the_cli_files(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from allocator.cli import app

    instance_dir = TINY / "third-party-deal-accepted"
    cli_out = tmp_path / "cli"
    ran = CliRunner().invoke(app, ["solve", str(instance_dir), "--out", str(cli_out), "-q"])
    assert ran.exit_code == 0, ran.output
    result = allocator.solve(allocator.load_instance(instance_dir))
    api_out = result.write(tmp_path / "api")
    for name in ("allocation.csv", "customers.csv", "stock.csv", "surplus.csv"):
        assert (api_out / name).read_bytes() == (cli_out / name).read_bytes(), name
    summary = json.loads((cli_out / "summary.json").read_text())
    assert result.summary["objective"] == summary["objective"]
    assert result.summary["objective_terms"] == summary["objective_terms"]
    pd.testing.assert_frame_equal(
        result.customers.reset_index(drop=True),
        pd.read_csv(cli_out / "customers.csv").fillna({"why_short": ""}),
        check_dtype=False,
    )


def test_invalid_instance_raises_instance_error(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    with pytest.raises(allocator.InstanceError) as raised:
        allocator.load_instance(folder)
    assert any("instance.toml" in str(problem) for problem in raised.value.problems)


def test_infeasible_strict_is_a_result_with_conflicts(tmp_path: Path) -> None:
    instance = allocator.load_instance(TINY / "internal-fill-strict-infeasible")
    result = allocator.solve(instance, strict=True)
    assert result.status == "infeasible"
    assert result.conflicts and result.objective is None and result.allocation.empty
    result.write(tmp_path / "out")
    assert (tmp_path / "out" / "conflicts.csv").is_file()


def test_write_refuses_a_plan_that_fails_its_check(tmp_path: Path) -> None:
    result = allocator.solve(allocator.load_instance(TINY / "services-waterfall"))
    assert result.solved is not None
    result.solved.violations.append("order_quantity: over-shipped: oa")
    with pytest.raises(PlanCheckError):
        result.write(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_import_is_light() -> None:
    """`import allocator` loads no solver: the API is imported on first use."""
    import subprocess
    import sys

    code = "import sys, allocator; print('pyomo' in sys.modules, 'highspy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True
    )
    assert out.stdout.split() == ["False", "False"]


def test_promise_is_the_function_after_its_package_is_imported(tmp_path: Path) -> None:
    """``allocator.promise`` is the API function, exported lazily like the others, and
    stays it once `allocator.promising` (the package behind it) has been imported: a
    subpackage named ``promise`` would have replaced the attribute with itself."""
    import allocator.promising.answer

    instance = allocator.load_instance(TINY / "third-party-deal-accepted")
    result = allocator.solve(instance)
    customer = str(instance.orders["customer"].iloc[0])
    product = str(instance.orders["product"].iloc[0])
    for _ in range(2):
        answer = allocator.promise(
            result, customer=customer, product=product, racks=1, period=1, capable=False
        )
        assert isinstance(answer, allocator.PromiseAnswer)
        assert callable(allocator.promise)
    assert allocator.PromiseAnswer is allocator.promising.answer.PromiseAnswer
    with pytest.raises(allocator.PromiseInputError, match="unknown customer"):
        allocator.promise(result, customer="nobody", product=product, racks=1, period=1)
