"""The run lock (exclusive, dies with its process) and the atomic swap of the published
folder, with recovery from a run killed mid-swap."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from allocator.atomic import publish_folder, recover_folder
from allocator.nightly.lock import LockHeldError, RunLock, is_lock_held, lock_path_for


def test_second_lock_is_refused_with_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "plan.lock"
    assert not is_lock_held(path)
    with RunLock(path):
        assert is_lock_held(path)
        with pytest.raises(LockHeldError, match=f"pid {os.getpid()}") as caught:
            RunLock(path).acquire()
        assert caught.value.path == path
    assert not is_lock_held(path)
    assert path.exists()  # the file stays; only the lock goes
    assert lock_path_for(tmp_path / "plan") == tmp_path / "plan.lock"


def test_lock_dies_with_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "plan.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from allocator.nightly.lock import RunLock;"
            f"RunLock(Path({str(path)!r})).acquire(); print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert is_lock_held(path)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        deadline = time.monotonic() + 10
        while is_lock_held(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not is_lock_held(path)
        with RunLock(path):
            pass
    finally:
        holder.kill()
        holder.wait()


def write(folder: Path, text: str) -> None:
    (folder / "plan.csv").write_text(text)


def test_publish_replaces_the_folder_whole(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    publish_folder(out, lambda folder: write(folder, "one"))
    assert (out / "plan.csv").read_text() == "one"
    publish_folder(out, lambda folder: write(folder, "two"))
    assert (out / "plan.csv").read_text() == "two"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plan"]
    assert sorted(path.name for path in out.iterdir()) == [".allocator", "plan.csv"]


def test_failed_publish_keeps_the_old_folder(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    publish_folder(out, lambda folder: write(folder, "good"))

    def fail(folder: Path) -> None:
        write(folder, "half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        publish_folder(out, fail)
    assert (out / "plan.csv").read_text() == "good"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plan"]


def test_recover_after_a_kill_between_renames(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    retired = tmp_path / ".plan.old-abc123"
    (retired / "plan").mkdir(parents=True)
    write(retired / "plan", "yesterday")
    (tmp_path / ".plan.partial-xyz").mkdir()
    actions = recover_folder(out)
    assert (out / "plan.csv").read_text() == "yesterday"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plan"]
    assert any("restored" in action for action in actions)
    assert recover_folder(out) == []
