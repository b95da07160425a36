"""The input reference in docs/contract.md is the one the schema generates."""

from __future__ import annotations

from pathlib import Path

from allocator.data.schema import TABLES, reference_markdown

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contract.md"


def test_contract_input_reference_is_generated_from_the_schema() -> None:
    text = CONTRACT.read_text(encoding="utf-8")
    start = text.index("<!-- input-reference:start -->\n") + len("<!-- input-reference:start -->\n")
    end = text.index("<!-- input-reference:end -->")
    assert text[start:end] == reference_markdown()


def test_every_table_of_the_contract_is_in_the_schema() -> None:
    assert list(TABLES) == [
        "products",
        "supply",
        "foundry",
        "customers",
        "orders",
        "services",
        "attach",
        "regions",
        "substitutes",
    ]
