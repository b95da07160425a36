"""A broken environment is one clear line and the right exit code, never a traceback:
a full disk, a read-only mount, a corrupt store or result folder, an unreachable or
malformed scheduler, paths of the wrong kind."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.adversarial.helpers import SMALL, allocator, assert_refused, snapshot

HAS_UNSHARE = shutil.which("unshare") is not None and (
    subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0
)
needs_mount = pytest.mark.skipif(
    not HAS_UNSHARE, reason="needs `unshare -rm` (util-linux) to mount a private tmpfs"
)


def _in_private_mount(
    tmp_path: Path, mount_options: str, *args: str
) -> subprocess.CompletedProcess:
    """allocator ARGS inside a private mount namespace with a tmpfs at tmp_path/mnt."""
    import shlex
    import sys

    mount = tmp_path / "mnt"
    mount.mkdir()
    command = " ".join(shlex.quote(str(arg)) for arg in [sys.executable, "-m", "allocator", *args])
    script = f"mount -t tmpfs -o {mount_options} tmpfs {shlex.quote(str(mount))} && {command}"
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300
    )


@needs_mount
def test_full_disk(tmp_path: Path) -> None:
    result = _in_private_mount(
        tmp_path, "size=12k", "solve", str(Path(SMALL).parents[1] / "base-2027"), "--out",
        str(tmp_path / "mnt" / "out"), "-q",
    )  # fmt: skip
    assert_refused(result, 1, "No space left on device", "earlier result is unchanged")


@needs_mount
def test_read_only_mount(tmp_path: Path) -> None:
    result = _in_private_mount(
        tmp_path, "ro", "solve", str(SMALL), "--out", str(tmp_path / "mnt" / "out"), "-q"
    )
    assert_refused(result, 1, "Read-only file system")


def test_corrupt_sqlite_store(tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    store.write_bytes(b"this is not a database" * 100)
    for args in (["runs", "list"], ["runs", "show", "1"], ["runs", "diff", "1", "2"]):
        assert_refused(allocator(*args, "--store", f"sqlite:///{store}"), 2, "not a database")
    nightly = allocator(
        "nightly", "--instance", SMALL, "--publish", tmp_path / "plan", "--store",
        f"sqlite:///{store}",
    )  # fmt: skip
    assert_refused(nightly, 1, "not a database")
    assert not (tmp_path / "plan").exists()


def test_report_on_a_corrupt_result_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert allocator("solve", SMALL, "--out", out, "-q").returncode == 0
    (out / "summary.json").write_text("{not json")
    before = snapshot(out)
    assert_refused(allocator("report", out), 1, "summary.json is not valid JSON")
    assert snapshot(out) == before
    assert allocator("solve", SMALL, "--out", out, "-q").returncode == 0
    (out / "allocation.csv").write_text("a,b\n1,2\n")
    assert_refused(allocator("report", out), 1, "allocation.csv lacks the column(s)")
    assert_refused(allocator("report", tmp_path / "missing"), 1, "is not a folder")


def test_scheduler_address(tmp_path: Path) -> None:
    result = allocator("whatif", SMALL, "--out", tmp_path / "sweep", "--scheduler", "garbage")
    assert_refused(result, 2, "--scheduler", "tcp://HOST:8786")
    assert not (tmp_path / "sweep").exists()


def test_paths_of_the_wrong_kind(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert_refused(allocator("generate", tmp_path / "file"), 2, "is not a folder")
    (tmp_path / "model.mps").mkdir()
    assert_refused(
        allocator("solve", SMALL, "--write-model", tmp_path / "model.mps"), 2, "is a folder"
    )
    assert_refused(allocator("solve", SMALL, "--out", tmp_path / "file", "-q"), 2, "not a folder")
    assert_refused(allocator("validate", tmp_path / "file"), 2, "not an instance folder")


def test_generate_keeps_a_folder_of_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "orders.csv").write_text("my own orders\n")
    before = snapshot(folder)
    assert_refused(allocator("generate", folder), 2, "holds files allocator did not write")
    assert snapshot(folder) == before
    generated = tmp_path / "generated"
    assert allocator("generate", generated, "--periods", "4").returncode == 0
    again = allocator("generate", generated, "--periods", "5")  # its own: replaced whole
    assert again.returncode == 0, again.stderr
    assert "periods = 5" in (generated / "instance.toml").read_text()
