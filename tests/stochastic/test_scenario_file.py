"""scenarios.csv: every problem with file, row and column, exit 2 and nothing written; the
mean scenario of the EEV."""

from __future__ import annotations

from pathlib import Path

import pytest

from allocator.data.validate import load_instance
from allocator.stochastic.scenario_file import ScenarioFileError, read_scenarios
from allocator.whatif.spec import Target
from tests.stochastic.helpers import cli, surplus_instance, write_scenarios


def _problems(path: Path) -> list[str]:
    with pytest.raises(ScenarioFileError) as raised:
        read_scenarios(path)
    return [str(problem) for problem in raised.value.problems]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (["a,0.5,,", "b,0.4,,"], "scenarios.csv, column probability: the scenarios' probabilities"),
        (
            ["a,0.5,orders.racks,2", "a,0.4,,", "b,0.5,,"],
            "scenarios.csv, row 3, column probability",
        ),
        (["a,1,ordres.racks,2"], "row 2, column target: target 'ordres.racks': unknown table"),
        (["a,1,orders.rack,2"], "row 2, column target: target 'orders.rack': unknown column"),
        (["a,1,orders.order,2"], "not scalable 'order' in orders"),
        (
            ["a,1,policy.colour,2"],
            "row 2, column target: target 'policy.colour': unknown policy key",
        ),
        (["a,1,orders.racks,inf"], "row 2, column value: 'inf' is not a finite number"),
        (["a,1,orders.racks,nan"], "row 2, column value: 'nan' is not a finite number"),
        (["a,1,orders.racks,-1"], "row 2, column value: factor -1 on orders.racks is negative"),
        (["a,0,,", "b,1,,"], "row 2, column probability: 0 is not in (0, 1]"),
        (["a,-0.5,,", "b,1.5,,"], "row 2, column probability: -0.5 is not in (0, 1]"),
        (["a,nan,,"], "row 2, column probability: 'nan' is not a finite number"),
        (["a,1,policy.third_party_max_share,1.5"], "row 2, column value: policy.third_party"),
        (["a,1,policy.priority_rule,1"], "policy.priority_rule cannot differ by scenario"),
        (["a,1,delay.trainium4,1"], "unknown table 'delay'"),
        (["a,1,orders.racks,"], "row 2, column value: no value for orders.racks"),
        (["a,1,,2"], "row 2, column target: a value without a target"),
        (["a,1,orders.racks,2", "a,1,orders.racks,3"], "row 3, column target: scenario 'a' sets"),
        ([",1,,"], "row 2, column scenario: empty scenario name"),
        (["../up,1,,"], "row 2, column scenario: scenario name '../up' cannot be a folder"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, rows: list[str], expected: str) -> None:
    problems = _problems(write_scenarios(tmp_path / "scenarios.csv", rows))
    assert any(expected in problem for problem in problems), problems


def test_every_problem_in_one_message(tmp_path: Path) -> None:
    rows = ["a,0.5,orders.racks,x", "a,0.6,nope.racks,1", "b,-1,,"]
    problems = _problems(write_scenarios(tmp_path / "scenarios.csv", rows))
    assert len(problems) >= 4, problems


def test_missing_and_unknown_columns(tmp_path: Path) -> None:
    path = tmp_path / "scenarios.csv"
    path.write_text("scenario,probability,target,valeu\na,1,,\n", encoding="utf-8")
    problems = _problems(path)
    assert "scenarios.csv, row 1, column value: column is missing" in problems
    assert any("column valeu: unknown column" in problem for problem in problems)


def test_empty_file_and_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "scenarios.csv"
    path.write_text("", encoding="utf-8")
    assert any("no header row" in problem for problem in _problems(path))
    path.write_text("scenario,probability,target,value\n", encoding="utf-8")
    assert any("no scenario" in problem for problem in _problems(path))


def test_probabilities_within_1e_9_and_naming_rows(tmp_path: Path) -> None:
    third = repr(1 / 3)
    path = write_scenarios(
        tmp_path / "scenarios.csv",
        [
            f"a,{third},orders.racks,0.8",
            f"a,{third},foundry.surplus_wafers,1.5",
            f"b,{third},,",
            f"c,{third},policy.third_party_max_share,0.2",
        ],
    )
    scenarios = read_scenarios(path).scenarios
    assert [s.name for s in scenarios] == ["a", "b", "c"]
    assert scenarios[1].changes == ()
    assert dict(scenarios[0].changes) == {
        Target("orders", "racks"): 0.8,
        Target("foundry", "surplus_wafers"): 1.5,
    }


def test_mean_scenario_weights_factors_and_policy_values(tmp_path: Path) -> None:
    base = load_instance(surplus_instance(tmp_path / "instance"))
    path = write_scenarios(
        tmp_path / "scenarios.csv",
        ["a,0.25,orders.racks,0.6", "a,0.25,policy.third_party_max_share,0.2", "b,0.75,,"],
    )
    mean = dict(read_scenarios(path).mean(base).changes)
    # b leaves the factor at 1 and the share at the instance's (1.0)
    assert mean[Target("orders", "racks")] == pytest.approx(0.25 * 0.6 + 0.75)
    assert mean[Target("policy", "third_party_max_share")] == pytest.approx(0.25 * 0.2 + 0.75)


def test_cli_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    instance = surplus_instance(tmp_path / "instance")
    scenarios = write_scenarios(tmp_path / "scenarios.csv", ["a,0.5,,", "a,0.4,orders.racks,2"])
    out = tmp_path / "out"
    result = cli("stochastic", instance, "--scenarios", scenarios, "--out", out, "--workers", "1")
    assert result.exit_code == 2
    assert "row 3, column probability" in result.output
    assert not out.exists()


def test_cli_refuses_a_lexicographic_instance(tmp_path: Path) -> None:
    instance = surplus_instance(tmp_path / "instance")
    toml = instance / "instance.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + 'priority_rule = "lexicographic"\n', encoding="utf-8"
    )
    scenarios = write_scenarios(tmp_path / "scenarios.csv", ["a,1,,"])
    out = tmp_path / "out"
    result = cli("stochastic", instance, "--scenarios", scenarios, "--out", out)
    assert result.exit_code == 2
    assert "lexicographic" in result.output and not out.exists()


def test_cli_refuses_a_bad_first_stage(tmp_path: Path) -> None:
    instance = surplus_instance(tmp_path / "instance")
    scenarios = write_scenarios(tmp_path / "scenarios.csv", ["a,1,,"])
    out = tmp_path / "out"
    result = cli(
        "stochastic", instance, "--scenarios", scenarios, "--out", out, "--first-stage", "deals"
    )
    assert result.exit_code == 2 and not out.exists()
