"""Option and config values no planner means are refused (exit 2, one line), not passed
on: `--mip-gap 2` used to report `optimal` for a plan far from the optimum."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.helpers import SMALL, allocator, assert_refused


@pytest.mark.parametrize(
    "option, value",
    [
        ("--mip-gap", "2"),
        ("--mip-gap", "1"),
        ("--mip-gap", "-0.1"),
        ("--mip-gap", "nan"),
        ("--threads", "1e20"),
        ("--threads", "0"),
        ("--threads", "100000"),
        ("--time-limit", "inf"),
        ("--time-limit", "nan"),
        ("--time-limit", "-1"),
    ],
)
def test_solve_option_is_refused(tmp_path: Path, option: str, value: str) -> None:
    result = allocator("solve", SMALL, "--out", tmp_path / "out", option, value, "-q")
    assert_refused(result, 2, option)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "line, message",
    [
        ("seed = 1e20", "seed must be a whole number"),
        ("seed = -1", "seed must be a whole number in [0, 2147483647]"),
        ("threads = 1e20", "threads must be a whole number"),
        ("change_penalty = inf", "change_penalty must be a finite number"),
        ("change_penalty = nan", "change_penalty must be a finite number"),
        ("time_limit = inf", "time_limit must be a finite number"),
        ("mip_gap = 2.0", "mip_gap must be a relative gap in [0, 1)"),
        ("frozen_periods = 100000", "frozen_periods must be a whole number in [0, 1200]"),
        ('store = "sqlite://"', "in memory"),
        ('store = "sqlite:///:memory:"', "in memory"),
    ],
)
def test_nightly_config_value_is_refused(tmp_path: Path, line: str, message: str) -> None:
    config = tmp_path / "nightly.toml"
    config.write_text(f'instance = "{SMALL}"\npublish = "plan"\n{line}\n')
    result = allocator("nightly", "--config", config)
    assert_refused(result, 2, message)
    assert not (tmp_path / "plan").exists()


def test_time_limit_zero_writes_strict_json(tmp_path: Path) -> None:
    """--time-limit 0 used to write Infinity and NaN into summary.json."""
    import json

    result = allocator("solve", SMALL, "--out", tmp_path / "out", "--time-limit", "0", "-q")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "out" / "summary.json").read_text()

    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    summary = json.loads(text, parse_constant=refuse)
    assert summary["status"] in ("time_limit", "optimal")
