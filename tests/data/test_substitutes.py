"""substitutes.csv: every problem listed with file, row and column (exit 2, nothing
written), and an instance without the table is exactly the instance it was (same content
hash, same model, same files)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from allocator.cli import app
from allocator.data.validate import load_instance
from allocator.model.build import ModelOptions, build_model
from allocator.solver.highs import compile_model, model_arrays

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "instances" / "tiny"
SUBSTITUTE = TINY / "substitute-wins-on-price"
HEADER = "order,product,price_per_rack\n"
SHIPPED = sorted(
    path.parent for path in (ROOT / "instances").rglob("expected.toml")
    if not (path.parent / "substitutes.csv").exists()
)  # fmt: skip


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def with_substitutes(tmp_path: Path, text: str) -> Path:
    folder = Path(shutil.copytree(SUBSTITUTE, tmp_path / "instance"))
    (folder / "substitutes.csv").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    "text, where, what",
    [
        (HEADER + "ox,B,150\n", "substitutes.csv, row 2, column order", "unknown order 'ox'"),
        (HEADER + "o1,Z,150\n", "substitutes.csv, row 2, column product", "unknown product 'Z'"),
        (HEADER + "o1,A,150\n", "substitutes.csv, row 2, column product", "own product"),
        (
            HEADER + "o1,B,150\no1,B,120\n",
            "substitutes.csv, row 3, column order",
            "duplicate order/product 'o1, B' (first at row 2)",
        ),
        (HEADER + "o1,B,-1\n", "substitutes.csv, row 2, column price_per_rack", "must be in"),
        (HEADER + "o1,B,inf\n", "substitutes.csv, row 2, column price_per_rack", "not a finite"),
        (HEADER + "o1,B,\n", "substitutes.csv, row 2, column price_per_rack", "missing value"),
        ("order,product\no1,B\n", "substitutes.csv, row 1, column price_per_rack", "missing"),
    ],
    ids=[
        "unknown-order",
        "unknown-product",
        "own-product",
        "duplicate",
        "negative",
        "infinite",
        "empty",
        "missing-column",
    ],
)
def test_bad_substitutes_are_reported_and_nothing_is_written(
    tmp_path: Path, text: str, where: str, what: str
) -> None:
    instance = with_substitutes(tmp_path, text)
    out = tmp_path / "out"
    result = cli("solve", instance, "--out", out, "-q")
    assert result.exit_code == 2, result.output
    assert f"{where}: " in result.stderr and what in result.stderr, result.stderr
    assert not out.exists()


def test_every_problem_of_the_table_in_one_message(tmp_path: Path) -> None:
    instance = with_substitutes(tmp_path, HEADER + "ox,B,1\no1,A,2\no1,B,-3\n")
    result = cli("validate", instance)
    assert result.exit_code == 2
    assert "3 problems" in result.stderr, result.stderr


@pytest.mark.parametrize(
    "folder", SHIPPED, ids=[str(path.relative_to(ROOT / "instances")) for path in SHIPPED]
)
def test_no_table_is_the_old_instance(tmp_path: Path, folder: Path) -> None:
    """A header-only substitutes.csv changes nothing: the content hash, the compiled
    model (array for array) and every file written."""
    with_table = Path(shutil.copytree(folder, tmp_path / "with"))
    (with_table / "substitutes.csv").write_text(HEADER, encoding="utf-8")
    plain, empty = load_instance(folder), load_instance(with_table)
    assert not empty.has_substitutes and plain.content_hash == empty.content_hash
    strict = "strict" in (folder / "expected.toml").read_text()
    options = ModelOptions(strict=strict)
    ours = model_arrays(compile_model(build_model(empty, options)))
    theirs = model_arrays(compile_model(build_model(plain, options)))
    for name in ("col_cost", "col_lower", "col_upper", "row_lower", "row_upper", "a_value"):
        assert getattr(ours, name).tobytes() == getattr(theirs, name).tobytes(), name
    flags = ["--mip-gap", "0", *(["--strict"] if strict else [])]
    first = cli("solve", folder, "--out", tmp_path / "a", "-q", *flags)
    second = cli("solve", with_table, "--out", tmp_path / "b", "-q", *flags)
    assert first.exit_code == second.exit_code
    for path in sorted((tmp_path / "a").glob("*.csv")):
        assert (tmp_path / "b" / path.name).read_bytes() == path.read_bytes(), path.name
    summaries = [json.loads((tmp_path / run / "summary.json").read_text()) for run in "ab"]
    for summary in summaries:
        for volatile in ("timings_seconds", "solve_seconds", "written_at", "instance"):
            summary.pop(volatile, None)
        for stage in summary.get("priority_stages", []):
            stage.pop("seconds")  # each stage's time, under the lexicographic rule
    assert summaries[0] == summaries[1]
