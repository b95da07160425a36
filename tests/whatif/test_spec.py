"""The sweep definition: a bad ``--vary``, ``--surplus-scale`` or instance is named and
exits 2 before anything is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from allocator.whatif.spec import WhatifError, parse_vary
from tests.whatif.helpers import cli


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("policy.max_share=0.1", "unknown policy key 'max_share'"),
        ("orderz.price_per_rack=1", "unknown table 'orderz'"),
        ("orders.prize=1", "unknown column 'prize' in orders"),
        ("orders.customer=1", "not scalable 'customer'"),
        ("orders.period=2", "not scalable 'period'"),
        ("price_per_rack=1", "policy.KEY, TABLE.COLUMN or delay.PRODUCT"),
        ("orders.price_per_rack", "NAME=V1,V2"),
        ("orders.price_per_rack=1,x", "'x' is not a number"),
        ("orders.price_per_rack=-1", "factors must be >= 0"),
        ("policy.third_party_max_share=1.5", "out of range"),
        ("policy.internal_shortfall_penalty=nan", "not a finite number"),
    ],
)
def test_bad_vary_is_named(text: str, message: str) -> None:
    with pytest.raises(WhatifError, match=message.replace("(", r"\(")):
        parse_vary(text)


def test_bad_sweep_definition_or_instance_exits_2(tmp_path: Path, small: Path) -> None:
    for args in (
        ["--vary", "orders.prize=1"],
        ["--surplus-scale", "1,-1"],
        ["--vary", "policy.third_party_max_share=0.1", "--vary", "policy.third_party_max_share=1"],
    ):
        result = cli("whatif", small, "--out", tmp_path / "out", *args)
        assert result.exit_code == 2, result.output
        assert "--vary" in result.stderr or "--surplus-scale" in result.stderr
    broken = tmp_path / "broken"
    shutil.copytree(small, broken)
    (broken / "orders.csv").write_text("order,customer\n", encoding="utf-8")
    result = cli("whatif", broken, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "orders.csv" in result.stderr
    assert not (tmp_path / "out").exists()
