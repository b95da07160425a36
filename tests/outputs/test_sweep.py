"""The sweep analysis shared by the PNG charts and the HTML report."""

from __future__ import annotations

from allocator.outputs.sweep import find_breakpoints


def test_breakpoints_mark_where_the_value_per_wafer_drops() -> None:
    nan = float("nan")
    assert find_breakpoints([nan, 10.0, 10.0, 4.0, 0.0]) == [2, 3]
    assert find_breakpoints([nan, 10.0, 9.0, 8.0]) == []  # diminishing returns, no drop
    assert find_breakpoints([nan, 5.0, 5.01, 5.0]) == []
    assert find_breakpoints([nan, 5.0, nan, 1.0]) == []
    assert find_breakpoints([nan]) == []
