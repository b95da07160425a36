"""models/FORMULATION.md and the model's code say the same: every ``add_<family>`` of
`allocator.model.build` has a section (a constraint family or the objective) or a row of
the variables table under its own name, every such section names a real family and
Pyomo component, and a constraint's number in its docstring, like (1), is its section's."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from allocator.data.validate import load_instance
from allocator.model import build, extensive, priority
from allocator.model.build import ModelOptions, build_model
from allocator.model.extensive import ScenarioModel, build_extensive

ROOT = Path(__file__).resolve().parents[2]
FORMULATION = (ROOT / "models" / "FORMULATION.md").read_text(encoding="utf-8")


def families() -> dict[str, str]:
    """family name -> its add_ function's docstring (the model's, the priority rule's and
    the two-stage extensive form's)."""
    return {
        name.removeprefix("add_"): inspect.getdoc(function) or ""
        for module in (build, priority, extensive)
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if name.startswith("add_") and function.__module__ == module.__name__
    }


def sections() -> dict[str, str]:
    """``## name`` sections of FORMULATION.md whose name is a code name -> their text."""
    found: dict[str, str] = {}
    parts = re.split(r"^## ", FORMULATION, flags=re.MULTILINE)[1:]
    for part in parts:
        heading, _, body = part.partition("\n")
        if re.fullmatch(r"[a-z_]+", heading.strip()):
            found[heading.strip()] = body
    return found


def variable_rows() -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)\[", FORMULATION, flags=re.MULTILINE))


def test_every_family_is_in_the_formulation() -> None:
    documented = set(sections()) | variable_rows()
    assert set(families()) <= documented, set(families()) - documented


def test_every_section_is_a_family_and_a_component() -> None:
    base = load_instance(ROOT / "instances" / "base-2027")
    model = build_model(load_instance(ROOT / "instances" / "base-2027-tiered"), ModelOptions())
    two_stage = build_extensive(base, [ScenarioModel("w", 1.0, base)], ModelOptions(), deals=True)
    for name in set(sections()) | variable_rows():
        assert name in families(), f"FORMULATION.md has {name} but no add_{name}"
        assert model.component(name) is not None or two_stage.component(name) is not None, name


def test_constraint_numbers_agree() -> None:
    for name, text in sections().items():
        number = re.match(r"\((\d+a?)\)", families()[name])
        if number:
            assert f"({number.group(1)})" in text, f"{name}: ({number.group(1)}) not in its section"
