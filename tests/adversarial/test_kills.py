"""SIGKILL at every phase of a solve and a nightly run (failpoints, `allocator.faults`):
the earlier result stays byte for byte until the new one is whole, no half-written folder
is ever visible, and the next run cleans up and succeeds."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.adversarial.helpers import BASE, SMALL, allocator, copy_instance, snapshot

VISIBLE = lambda folder: sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))  # noqa: E731


@pytest.mark.parametrize("phase", ["solve:built", "solve:solved", "publish:staged"])
def test_killed_solve_leaves_the_earlier_result(tmp_path: Path, phase: str) -> None:
    out = tmp_path / "out"
    instance = copy_instance(SMALL, tmp_path / "instance")
    assert allocator("solve", instance, "--out", out, "-q").returncode == 0
    earlier = snapshot(out)
    killed = allocator("solve", instance, "--out", out, "-q", env={"ALLOCATOR_FAILPOINT": phase})
    assert killed.returncode == -signal.SIGKILL
    assert snapshot(out) == earlier
    assert VISIBLE(tmp_path) == ["instance", "out"]
    again = allocator("solve", instance, "--out", out, "-q")
    assert again.returncode == 0, again.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_killed_right_after_the_swap_leaves_the_new_result_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    killed = allocator(
        "solve", SMALL, "--out", out, "-q", env={"ALLOCATOR_FAILPOINT": "publish:swapped"}
    )
    assert killed.returncode == -signal.SIGKILL
    assert {p.name for p in out.iterdir()} >= {"summary.json", "allocation.csv", ".allocator"}


def test_killed_first_solve_leaves_no_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    killed = allocator(
        "solve", SMALL, "--out", out, "-q", env={"ALLOCATOR_FAILPOINT": "publish:staged"}
    )
    assert killed.returncode == -signal.SIGKILL
    assert not out.exists()


@pytest.mark.parametrize("phase", ["nightly:stored", "publish:staged", "nightly:published"])
def test_killed_nightly_keeps_the_published_plan(tmp_path: Path, phase: str) -> None:
    publish, store = tmp_path / "plan", f"sqlite:///{tmp_path / 'runs.db'}"
    args = ["nightly", "--instance", SMALL, "--publish", publish, "--store", store]
    assert allocator(*args).returncode == 0
    earlier = snapshot(publish)
    killed = allocator(*args, env={"ALLOCATOR_FAILPOINT": phase})
    assert killed.returncode == -signal.SIGKILL
    if phase == "nightly:published":  # the swap happened: the new plan is whole
        assert (publish / "manifest.json").read_text() != earlier["manifest.json"].decode()
    else:
        assert snapshot(publish) == earlier
    after = allocator(*args)
    assert after.returncode == 0, after.stderr
    assert "run 2: its process had ended; marked" in after.stderr
    runs = allocator("runs", "list", "--store", store)
    assert runs.returncode == 0
    expected = "published" if phase == "nightly:published" else "abandoned"
    assert expected in runs.stdout


def test_ctrl_c_exits_130_and_writes_nothing(tmp_path: Path) -> None:
    """SIGINT while HiGHS solves base-2027 at gap 0 (seconds): exit 130, one line."""
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "allocator", "solve", BASE, "--out", out, "--mip-gap", "0", "-q"],
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the solve finished before the interrupt")
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not out.exists()


def test_killed_sweep_never_solves_a_finished_scenario_again(tmp_path: Path) -> None:
    """A scenario's outputs and its done-marker appear in one folder swap: a sweep killed
    right after a scenario's swap resumes without solving that scenario again (the marker
    used to be written after the outputs, and a kill between them re-solved it)."""
    out = tmp_path / "sweep"
    args = ["whatif", SMALL, "--out", out, "--surplus-scale", "0,1,2", "--workers", "1", "-q"]
    killed = allocator(*args, env={"ALLOCATOR_FAILPOINT": "publish:swapped"})
    assert killed.returncode == -signal.SIGKILL
    done = sorted(p.parent.name for p in out.glob("scenarios/*/scenario.json"))
    assert len(done) == 1
    assert all((out / "scenarios" / name / "allocation.csv").is_file() for name in done)
    resumed = allocator(*args[:-1])
    assert resumed.returncode == 0, resumed.stderr
    assert "1 already done" in resumed.stdout + resumed.stderr
