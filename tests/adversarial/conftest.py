"""Every test under tests/adversarial is marked ``adversarial`` (``-m "not adversarial"``
leaves the suite out; CI runs it)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "adversarial" in item.nodeid:
            item.add_marker(pytest.mark.adversarial)
