"""The README's input reference is the one the schema generates."""

from __future__ import annotations

from pathlib import Path

from allocator.data.schema import TABLES, reference_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_input_reference_is_generated_from_the_schema() -> None:
    text = README.read_text()
    start = text.index("<!-- input-reference:start -->\n") + len("<!-- input-reference:start -->\n")
    end = text.index("<!-- input-reference:end -->")
    assert text[start:end] == reference_markdown()


def test_every_table_of_the_spec_is_in_the_schema() -> None:
    assert list(TABLES) == [
        "products",
        "supply",
        "foundry",
        "customers",
        "orders",
        "services",
        "attach",
        "regions",
    ]
