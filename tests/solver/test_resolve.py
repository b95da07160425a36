"""In-place re-solves (`allocator.solver.resolve`): the updated arrays are bit for bit the arrays
a rebuild compiles, for every kind of change updated in place; changes that would add or
drop a row, a column or a matrix entry are rebuilt; a sweep solved in place writes the
same results as one rebuilt scenario by scenario."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from allocator.data.generate import generate_instance
from allocator.data.instance import Instance
from allocator.data.validate import load_instance
from allocator.model.build import ModelOptions, build_model
from allocator.solver import resolve
from allocator.solver.highs import CompiledModel, SolverOptions, compile_model, model_arrays
from allocator.solver.pipeline import RunOptions, SolveResult, solve_instance
from allocator.whatif.run import run_whatif
from allocator.whatif.scenarios import scenario_instance
from allocator.whatif.spec import Scenario, SweepSpec, Target, Vary

ROOT = Path(__file__).resolve().parents[2]
BASE_2027 = ROOT / "instances" / "base-2027"
TINY = ROOT / "instances" / "tiny"
EXACT = RunOptions(SolverOptions(mip_gap=0.0))
SHARE = Target("policy", "third_party_max_share")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated instance of tests/whatif: surplus, regions, both segments,
    and the share cap, min fill and min contract sizes all bind."""
    folder = tmp_path_factory.mktemp("small") / "instance"
    generate_instance(folder, regions=2, buyers=6, periods=6, seed=1)
    return folder


@pytest.fixture(scope="module")
def with_substitutes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated instance where half the orders may take the other generation."""
    folder = tmp_path_factory.mktemp("substitutes") / "instance"
    generate_instance(folder, regions=2, buyers=6, periods=16, seed=3, substitute_share=0.5)
    return folder


INSTANCES = {
    "base-2027": lambda generated: BASE_2027,
    "small": lambda generated: generated["small"],
    "substitutes": lambda generated: generated["substitutes"],
    "tiny-foundry-surplus-shared": lambda generated: TINY / "foundry-surplus-shared",
    "tiny-third-party-share-binding": lambda generated: TINY / "third-party-share-binding",
}


@pytest.fixture(scope="module")
def generated(small: Path, with_substitutes: Path) -> dict[str, Path]:
    return {"small": small, "substitutes": with_substitutes}


def change(table: str, column: str, value: float) -> tuple[tuple[Target, float], ...]:
    return ((Target(table, column), value),)


IN_PLACE: dict[str, Scenario] = {
    "surplus-x0": Scenario("s", "sweep", 0.0),
    "surplus-x0.5": Scenario("s", "sweep", 0.5),
    "surplus-x2.5": Scenario("s", "sweep", 2.5),
    "share-0.2": Scenario("s", "sweep", changes=change("policy", "third_party_max_share", 0.2)),
    "penalty": Scenario(
        "s", "sweep", changes=change("policy", "internal_shortfall_penalty", 1234.5)
    ),
    "base-racks": Scenario("s", "sweep", changes=change("supply", "base_racks", 1.3)),
    "initial-inventory": Scenario(
        "s", "sweep", changes=change("products", "initial_inventory", 3.0)
    ),
    "surplus-max-racks": Scenario("s", "sweep", changes=change("supply", "surplus_max_racks", 1.6)),
    "surplus-cost": Scenario("s", "sweep", changes=change("supply", "surplus_cost", 0.7)),
    "price": Scenario("s", "sweep", changes=change("orders", "price_per_rack", 0.9)),
    "delay-penalty": Scenario("s", "sweep", changes=change("orders", "delay_penalty", 1.9)),
    "holding-cost": Scenario("s", "sweep", changes=change("products", "holding_cost", 3.0)),
    "onboarding-cost": Scenario("s", "sweep", changes=change("customers", "onboarding_cost", 0.3)),
    "service-margin": Scenario("s", "sweep", changes=change("services", "margin_per_rack", 1.3)),
    "attach-rate": Scenario("s", "sweep", changes=change("attach", "attach_rate", 0.7)),
    "substitute-price": Scenario(
        "s", "sweep", changes=change("substitutes", "price_per_rack", 0.6)
    ),
    "region-power": Scenario("s", "sweep", changes=change("regions", "power_kw", 0.8)),
    "order-racks": Scenario("s", "sweep", changes=change("orders", "racks", 0.8)),
    "min-fill": Scenario("s", "sweep", changes=change("customers", "min_fill", 0.5)),
    "min-contract": Scenario("s", "sweep", changes=change("customers", "min_contract_racks", 1.5)),
    "combined": Scenario(
        "s",
        "sweep",
        1.5,
        (
            (SHARE, 0.5),
            (Target("orders", "price_per_rack"), 1.1),
            (Target("supply", "base_racks"), 0.7),
            (Target("regions", "power_kw"), 1.2),
        ),
    ),
}


_bases: dict[tuple[str, ModelOptions], tuple[Instance, resolve.CompiledBase]] = {}


def compiled_base(path: Path, options: ModelOptions) -> tuple[Instance, resolve.CompiledBase]:
    """One `CompiledBase` per instance and options for the whole module (not the
    process cache of `resolve`, which the sweep tests use)."""
    key = (str(path), options)
    if key not in _bases:
        instance = load_instance(path)
        _bases[key] = (instance, resolve.CompiledBase(instance, options))
    return _bases[key]


def assert_same_arrays(updated: CompiledModel, rebuilt: CompiledModel) -> None:
    """Bit for bit: floats compared as bytes (so -0.0 is not +0.0), integers as values."""
    ours, theirs = model_arrays(updated), model_arrays(rebuilt)
    for name in ("col_cost", "col_lower", "col_upper", "row_lower", "row_upper", "a_value"):
        mine, reference = getattr(ours, name), getattr(theirs, name)
        assert mine.shape == reference.shape, name
        assert mine.tobytes() == reference.tobytes(), name
    for name in ("a_start", "a_index"):
        assert np.array_equal(getattr(ours, name), getattr(theirs, name)), name
    assert np.array_equal(updated.is_integer, rebuilt.is_integer)
    assert updated.column_names == rebuilt.column_names
    assert updated.row_names == rebuilt.row_names
    assert (updated.lp.num_col_, updated.lp.num_row_) == (rebuilt.lp.num_col_, rebuilt.lp.num_row_)
    assert updated.lp.sense_ == rebuilt.lp.sense_
    assert updated.objective_offset == rebuilt.objective_offset
    assert updated.lp.offset_ == rebuilt.lp.offset_
    if rebuilt.start is None:
        assert updated.start is None
    else:
        assert updated.start is not None
        assert updated.start.tobytes() == rebuilt.start.tobytes()


@pytest.mark.parametrize("kind", list(IN_PLACE))
@pytest.mark.parametrize("name", list(INSTANCES))
def test_in_place_arrays_equal_a_rebuild(generated: dict[str, Path], name: str, kind: str) -> None:
    path = INSTANCES[name](generated)
    options = ModelOptions()
    base, compiled = compiled_base(path, options)
    variant = scenario_instance(base, IN_PLACE[kind])
    if name in ("base-2027", "small", "substitutes") and (
        kind != "substitute-price" or len(base.substitutes)
    ):  # the change changes something here
        assert variant.content_hash != base.content_hash
    assert resolve.rebuild_reason(compiled, variant) is None
    updated = compiled.update(variant)
    assert_same_arrays(updated, compile_model(build_model(variant, options)))


@pytest.mark.parametrize(
    "options", [ModelOptions(strict=True), ModelOptions(relax=True)], ids=["strict", "relax"]
)
@pytest.mark.parametrize("kind", ["surplus-x0.5", "base-racks", "penalty", "combined"])
def test_in_place_arrays_equal_a_rebuild_strict_and_relaxed(
    small: Path, kind: str, options: ModelOptions
) -> None:
    base, compiled = compiled_base(small, options)
    variant = scenario_instance(base, IN_PLACE[kind])
    assert_same_arrays(compiled.update(variant), compile_model(build_model(variant, options)))


def test_updates_leave_the_base_arrays_alone(small: Path) -> None:
    base, compiled = compiled_base(small, ModelOptions())
    before = model_arrays(compiled.compiled)
    start = None if compiled.compiled.start is None else compiled.compiled.start.copy()
    for scenario in IN_PLACE.values():
        compiled.update(scenario_instance(base, scenario))
    assert_same_arrays(compiled.compiled, compile_model(build_model(base, ModelOptions())))
    after = model_arrays(compiled.compiled)
    for name in ("col_cost", "col_upper", "row_lower", "row_upper", "a_value"):
        assert getattr(after, name).tobytes() == getattr(before, name).tobytes()
    assert start is not None and compiled.compiled.start is not None
    assert compiled.compiled.start.tobytes() == start.tobytes()


# --- what is rebuilt -------------------------------------------------------------------

REBUILT: dict[str, tuple[Scenario, str]] = {
    "share-1": (
        Scenario("s", "sweep", changes=change("policy", "third_party_max_share", 1.0)),
        "becoming or stopping being 0 or 1",
    ),
    "share-0": (
        Scenario("s", "sweep", changes=change("policy", "third_party_max_share", 0.0)),
        "becoming or stopping being 0 or 1",
    ),
    "surplus-max-racks-x0": (
        Scenario("s", "sweep", changes=change("supply", "surplus_max_racks", 0.0)),
        "surplus_max_racks crosses 0",
    ),
    "min-fill-x0": (
        Scenario("s", "sweep", changes=change("customers", "min_fill", 0.0)),
        "committed internal fill crossing 0",
    ),
    "min-contract-x0": (
        Scenario("s", "sweep", changes=change("customers", "min_contract_racks", 0.0)),
        "min_contract_racks crossing 0",
    ),
    "max-delay": (
        Scenario("s", "sweep", changes=change("orders", "max_delay", 2.0)),
        "order windows",
    ),
    "product-delay": (
        Scenario("s", "sweep", changes=change("delay", "trainium4", 1.0)),
        "order windows",
    ),
    "wafers-per-rack": (
        Scenario("s", "sweep", changes=change("products", "wafers_per_rack", 2.0)),
        "wafers per rack",
    ),
    "power-per-rack": (
        Scenario("s", "sweep", changes=change("products", "power_kw", 2.0)),
        "kW per rack",
    ),
}


@pytest.mark.parametrize("kind", list(REBUILT))
@pytest.mark.parametrize("name", ["base-2027", "small", "substitutes"])
def test_structural_changes_are_rebuilt(generated: dict[str, Path], name: str, kind: str) -> None:
    base, compiled = compiled_base(INSTANCES[name](generated), ModelOptions())
    scenario, reason = REBUILT[kind]
    variant = scenario_instance(base, scenario)
    assert reason in (resolve.rebuild_reason(compiled, variant) or "")
    with pytest.raises(resolve.Rebuild, match=reason.replace(".", r"\.")):
        compiled.update(variant)


@pytest.mark.parametrize(
    "kind", ["share-1", "share-0", "surplus-max-racks-x0", "min-fill-x0", "min-contract-x0"]
)
def test_guarded_changes_really_change_the_structure(small: Path, kind: str) -> None:
    """The guards are needed, not just cautious: a rebuild has other matrix entries or
    columns than the base."""
    base, compiled = compiled_base(small, ModelOptions())
    variant = scenario_instance(base, REBUILT[kind][0])
    rebuilt = model_arrays(compile_model(build_model(variant, ModelOptions())))
    ours = compiled.arrays
    assert (len(rebuilt.a_value), len(rebuilt.col_cost), len(rebuilt.row_lower)) != (
        len(ours.a_value),
        len(ours.col_cost),
        len(ours.row_lower),
    )


def test_a_share_without_third_party_shipping_is_updated_in_place() -> None:
    """foundry-surplus-shared has no third-party order, so no third_party_share row: any
    share changes nothing, even 0 or 1."""
    base, compiled = compiled_base(TINY / "foundry-surplus-shared", ModelOptions())
    for share in (0.0, 1.0):
        variant = scenario_instance(base, Scenario("s", "sweep", changes=((SHARE, share),)))
        assert resolve.rebuild_reason(compiled, variant) is None
        assert_same_arrays(
            compiled.update(variant), compile_model(build_model(variant, ModelOptions()))
        )


def test_a_cost_that_drops_an_objective_only_column_is_rebuilt(tmp_path: Path) -> None:
    """A third party with no order and no minimum contract has y[c] only in the objective
    (onboarding cost): cost 0 drops the column, so it is rebuilt; another nonzero cost
    is updated in place."""
    folder = tmp_path / "instance"
    shutil.copytree(TINY / "third-party-share-binding", folder)
    with (folder / "customers.csv").open("a", encoding="utf-8") as handle:
        handle.write("Z,third_party,z-dc,0,5,0\n")
    base = load_instance(folder)
    compiled = resolve.CompiledBase(base, ModelOptions())
    assert "is_deal_accepted[Z]" in compiled.compiled.column_names
    onboarding = Target("customers", "onboarding_cost")
    free = scenario_instance(base, Scenario("s", "sweep", changes=((onboarding, 0.0),)))
    with pytest.raises(resolve.Rebuild, match="objective-only is_deal_accepted"):
        compiled.update(free)
    rebuilt = compile_model(build_model(free, ModelOptions()))
    assert "is_deal_accepted[Z]" not in rebuilt.column_names
    dearer = scenario_instance(base, Scenario("s", "sweep", changes=((onboarding, 2.0),)))
    assert_same_arrays(compiled.update(dearer), compile_model(build_model(dearer, ModelOptions())))


# --- a sweep solved in place ------------------------------------------------------------


def rebuild_every_variant(
    solver: resolve.VariantSolver, variant: Instance, options: RunOptions
) -> SolveResult:
    return solve_instance(variant, options)


SWEEP = SweepSpec((0.0, 1.0, 2.0), (Vary(SHARE, (0.2, 0.5)),), policy_cost=True)
COMPARED_FILES = (
    "allocation.csv",
    "surplus.csv",
    "customers.csv",
    "stock.csv",
    "marginal_values.csv",
)


def timings_of(out: Path, name: str) -> dict[str, float]:
    summary = json.loads((out / "scenarios" / name / "summary.json").read_text(encoding="utf-8"))
    timings: dict[str, float] = summary["timings_seconds"]
    return timings


def test_sweep_in_place_writes_what_a_rebuilt_sweep_writes(
    tmp_path: Path, small: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve.clear_cache()
    in_place, rebuilt = tmp_path / "in-place", tmp_path / "rebuilt"
    run_whatif(load_instance(small), "instance", in_place, SWEEP, EXACT)
    with monkeypatch.context() as patch:
        patch.setattr(resolve.VariantSolver, "solve", rebuild_every_variant)
        run_whatif(load_instance(small), "instance", rebuilt, SWEEP, EXACT)
    ours = pd.read_csv(in_place / "sweep.csv").set_index("scenario")
    theirs = pd.read_csv(rebuilt / "sweep.csv").set_index("scenario")
    timing = ["solve_seconds", "seconds", "worker"]
    pd.testing.assert_frame_equal(ours.drop(columns=timing), theirs.drop(columns=timing))
    assert ours["status"].eq("optimal").all()
    for name in ours.index:
        for file in COMPARED_FILES:
            pd.testing.assert_frame_equal(
                pd.read_csv(in_place / "scenarios" / str(name) / file),
                pd.read_csv(rebuilt / "scenarios" / str(name) / file),
            )
        assert "in_place_update" not in timings_of(rebuilt, str(name))
    # surplus and share points are solved in place; dropping a policy changes the
    # structure (share 1 drops matrix entries, min_fill and min_contract_racks 0 drop rows)
    solved_in_place = {
        name for name in ours.index if "in_place_update" in timings_of(in_place, name)
    }
    assert solved_in_place == {name for name in ours.index if not name.startswith("no-")}
    resolve.clear_cache()


def test_variant_solver_solves_in_place_and_rebuilds_when_it_must(small: Path) -> None:
    base = load_instance(small)
    solver = resolve.VariantSolver(base)
    in_place = solver.solve(scenario_instance(base, IN_PLACE["surplus-x0.5"]), EXACT)
    assert "in_place_update" in in_place.timings and "build" in in_place.timings
    again = solver.solve(scenario_instance(base, IN_PLACE["price"]), EXACT)
    assert "in_place_update" in again.timings and "build" not in again.timings
    rebuilt = solver.solve(scenario_instance(base, REBUILT["max-delay"][0]), EXACT)
    assert "in_place_update" not in rebuilt.timings and "build" in rebuilt.timings
    separate = solve_instance(scenario_instance(base, IN_PLACE["price"]), EXACT)
    assert again.objective == separate.objective
    pd.testing.assert_frame_equal(again.plan.allocation, separate.plan.allocation)
    assert resolve.variant_solver(base) is resolve.variant_solver(base)
