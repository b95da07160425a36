"""One nightly run at a time per published folder, whatever lock files the runs name
(a second run with another --lock used to remove the first run's partial folder)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from allocator.nightly.lock import RunLock, lock_path_for
from tests.adversarial.helpers import SMALL, allocator, assert_refused, snapshot


def test_second_run_with_another_lock_file_waits_for_the_first(tmp_path: Path) -> None:
    publish, store = tmp_path / "plan", f"sqlite:///{tmp_path / 'runs.db'}"
    args = ["nightly", "--instance", SMALL, "--publish", publish, "--store", store]
    assert allocator(*args).returncode == 0
    published = snapshot(publish)
    # the first run, mid-publish: it holds the folder's lock and fills its staging folder
    staging = tmp_path / ".plan.partial-running"
    staging.mkdir()
    (staging / "allocation.csv").write_text("being written")
    holder = os.open(staging, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with RunLock(lock_path_for(publish)):
            second = allocator(*args, "--lock", tmp_path / "other.lock")
        assert_refused(second, 75, "another nightly run holds the lock")
        assert (staging / "allocation.csv").read_text() == "being written"
        assert snapshot(publish) == published
    finally:
        os.close(holder)


def test_one_folder_spelled_two_ways_is_one_lock(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert lock_path_for(tmp_path / "alias" / "plan") == lock_path_for(tmp_path / "real" / "plan")
    with RunLock(lock_path_for(tmp_path / "real" / "plan")):
        result = allocator(
            "nightly", "--instance", SMALL, "--publish", tmp_path / "alias" / "plan",
            "--store", f"sqlite:///{tmp_path / 'runs.db'}",
        )  # fmt: skip
    assert_refused(result, 75)


def test_extra_lock_file_is_also_held(tmp_path: Path) -> None:
    """--lock still serializes runs that share it (for example two published folders)."""
    shared = tmp_path / "team.lock"
    with RunLock(shared):
        result = allocator(
            "nightly", "--instance", SMALL, "--publish", tmp_path / "plan",
            "--store", f"sqlite:///{tmp_path / 'runs.db'}", "--lock", shared,
        )  # fmt: skip
    assert_refused(result, 75)
    assert not (tmp_path / "plan").exists()
