"""The small generated instance every what-if test module solves (made once per module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.whatif.helpers import generated


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated(tmp_path_factory.mktemp("small") / "instance", seed=1)
