"""The house rules the redesign set: no module of allocator over 500 lines, and every
module says its job in the first line of its docstring (one sentence)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "allocator"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 500


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_module_is_short_and_says_its_job(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_LINES, f"{path} has over {MAX_LINES} lines"
    docstring = ast.get_docstring(ast.parse(text), clean=False)
    assert docstring, f"{path} has no module docstring"
    first = docstring.splitlines()[0]
    assert first.rstrip().endswith((".", ")")), f"{path}: first line is not one sentence: {first}"
