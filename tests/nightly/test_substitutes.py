"""Nightly runs with substitute products: the store keeps every shipment with the product
shipped (an order may ship its own product and a substitute in one period), frozen
periods keep the product too, and the change penalty counts a switch of product."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from allocator.cli import app
from allocator.data.generate import generate_instance
from allocator.nightly.store import RunStore
from tests.stores import STORE_KINDS, store_url

KEYS = ["order", "product", "ship_period"]


@pytest.fixture(scope="module")
def substitutes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("nightly-substitutes") / "instance"
    generate_instance(folder, regions=4, buyers=8, periods=12, seed=7, substitute_share=0.4)
    return folder


def run(*args: str | Path) -> dict:
    result = CliRunner().invoke(app, ["nightly", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    publish = Path(str(args[list(map(str, args)).index("--publish") + 1]))
    return json.loads((publish / "manifest.json").read_text())


def rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[*KEYS, "ordered_product", "racks"]].sort_values(KEYS).reset_index(drop=True)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_store_and_frozen_periods_keep_the_product(
    kind: str, substitutes_dir: Path, tmp_path: Path
) -> None:
    publish = tmp_path / "plan"
    with store_url(kind, tmp_path) as url:
        base = ["--instance", substitutes_dir, "--publish", publish, "--store", url]
        first = run(*base)
        published = pd.read_csv(publish / "allocation.csv")
        substituted = published[published["product"] != published["ordered_product"]]
        assert len(substituted) > 0, "the generated instance ships substitutes"
        with RunStore(url, create=False) as store:
            stored = store.plan(first["run_id"]).plan.allocation
        pd.testing.assert_frame_equal(rows(stored), rows(published), check_dtype=False)

        second = run(*base, "--frozen-periods", "3", "--change-penalty", "100000")
        assert second["stability"]["frozen_mode"] == "fixed"
        again = pd.read_csv(publish / "allocation.csv")
        frozen = [frame[frame["ship_period"] <= 3] for frame in (published, again)]
        pd.testing.assert_frame_equal(rows(frozen[1]), rows(frozen[0]), check_dtype=False)
