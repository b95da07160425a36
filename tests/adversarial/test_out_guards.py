"""An output folder may only replace a folder allocator wrote: never the current folder
or a parent, the root, the instance or a folder holding it, a file, a dangling link, or
a folder with someone else's files (`solve --out .` used to delete the working folder's
contents). Every refusal is exit 2 with one line, before any work, and touches nothing."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.adversarial.helpers import SMALL, allocator, assert_refused, copy_instance, snapshot


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A planner's working folder: their notes, a copy of the instance, a subfolder."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes\n")
    copy_instance(SMALL, folder / "instance")
    (folder / "sub").mkdir()
    return folder


@pytest.mark.parametrize(
    "out, reason",
    [
        (".", "current folder"),
        ("", "current folder"),
        ("..", "current folder or one of its parents"),
        ("/", "root"),
        ("instance", "is the instance"),
        ("notes.txt", "is not a folder"),
    ],
)
def test_solve_out_is_refused(workdir: Path, out: str, reason: str) -> None:
    before = snapshot(workdir)
    result = allocator("solve", "instance", "--out", out, "-q", cwd=workdir)
    assert_refused(result, 2, reason, "nothing written")
    assert snapshot(workdir) == before


def test_out_holding_the_instance_is_refused(workdir: Path) -> None:
    nested = workdir / "sub" / "instance"
    copy_instance(SMALL, nested)
    before = snapshot(workdir)
    result = allocator("solve", nested, "--out", workdir / "sub", "-q", cwd=workdir)
    assert_refused(result, 2, "or a folder holding it")
    assert snapshot(workdir) == before


def test_folder_with_foreign_files_is_refused(workdir: Path) -> None:
    (workdir / "sub" / "budget.xlsx").write_bytes(b"not ours")
    before = snapshot(workdir)
    result = allocator("solve", "instance", "--out", "sub", "-q", cwd=workdir)
    assert_refused(result, 2, "holds files allocator did not write", "budget.xlsx")
    assert snapshot(workdir) == before


def test_dangling_link_is_refused(workdir: Path) -> None:
    (workdir / "link").symlink_to(workdir / "gone" / "deeper")
    result = allocator("solve", "instance", "--out", "link", "-q", cwd=workdir)
    assert_refused(result, 2, "symbolic link", "does not exist")
    assert (workdir / "link").is_symlink() and not (workdir / "gone").exists()


def test_linked_out_writes_its_target_and_stays_a_link(workdir: Path) -> None:
    (workdir / "results").mkdir()
    (workdir / "link").symlink_to(workdir / "results")
    for _ in range(2):  # the second run replaces the first result through the link
        assert allocator("solve", "instance", "--out", "link", "-q", cwd=workdir).returncode == 0
    assert (workdir / "link").is_symlink()
    assert (workdir / "results" / "summary.json").is_file()
    assert (workdir / "results" / ".allocator").is_file()


def test_own_result_is_replaced_also_without_marker(workdir: Path) -> None:
    """A result folder of an earlier allocator (no marker, only its own files)."""
    assert allocator("solve", "instance", "--out", "out", "-q", cwd=workdir).returncode == 0
    (workdir / "out" / ".allocator").unlink()
    assert allocator("solve", "instance", "--out", "out", "-q", cwd=workdir).returncode == 0
    assert (workdir / "out" / ".allocator").is_file()


def test_other_commands_guard_their_folders(workdir: Path) -> None:
    before = snapshot(workdir)
    for args in (
        ["generate", "."],
        ["generate", "sub/.."],
        ["generate", "notes.txt"],
        ["generate", "instance"],
        ["whatif", "instance", "--out", "instance", "-q", "--workers", "1"],
        ["whatif", "instance", "--out", ".", "-q", "--workers", "1"],
        ["nightly", "--instance", "instance", "--publish", ".", "--store", "sqlite:///x.db"],
        ["nightly", "--instance", "instance", "--publish", "instance", "--store", "sqlite:///x.db"],
    ):
        assert_refused(allocator(*args, cwd=workdir), 2)
    assert snapshot(workdir) == before


def test_runs_export_guards_its_folder(workdir: Path) -> None:
    store = f"sqlite:///{workdir / 'sub' / 'runs.db'}"
    published = allocator(
        "nightly", "--instance", "instance", "--publish", "plan", "--store", store, cwd=workdir
    )
    assert published.returncode == 0, published.stderr
    before = snapshot(workdir)
    assert_refused(allocator("runs", "export", "1", "--out", ".", "--store", store, cwd=workdir), 2)
    assert snapshot(workdir) == before
    exported = allocator("runs", "export", "1", "--out", "run-1", "--store", store, cwd=workdir)
    assert exported.returncode == 0, exported.stderr


def test_two_solves_racing_into_one_new_folder_both_finish(workdir: Path) -> None:
    command = [sys.executable, "-m", "allocator", "solve", "instance", "--out", "out", "-q"]
    runs = [subprocess.Popen(command, cwd=workdir, stderr=subprocess.PIPE, text=True)]
    runs.append(subprocess.Popen(command, cwd=workdir, stderr=subprocess.PIPE, text=True))
    for run in runs:
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
    assert (workdir / "out" / "summary.json").is_file()
    assert not [path for path in workdir.iterdir() if path.name.startswith(".out.")]


def test_abandoned_temporaries_are_removed_and_live_ones_kept(workdir: Path) -> None:
    """A killed writer leaves unlocked temporaries; the next write removes them, but not
    the one a live writer still holds (flock)."""
    abandoned = workdir / ".out.partial-dead"
    abandoned.mkdir()
    (abandoned / "allocation.csv").write_text("half")
    stale_file = workdir / "out"
    live = workdir / ".out.partial-live"
    live.mkdir()
    holder = os.open(live, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        assert allocator("solve", "instance", "--out", "out", "-q", cwd=workdir).returncode == 0
        assert not abandoned.exists()
        assert live.exists()
    finally:
        os.close(holder)
    (stale_file / ".plan.xlsx.abc.part").write_bytes(b"half a workbook")
    assert allocator("report", "out", cwd=workdir).returncode == 0
    assert not (stale_file / ".plan.xlsx.abc.part").exists()
    assert (stale_file / "plan.xlsx").is_file()
