"""The published folder and its lock: one nightly run at a time, outputs swapped in whole.

* `RunLock`: an exclusive ``flock`` on a lock file next to the published folder
  (``PUBLISH.lock``), taken without waiting. The kernel drops it when the process ends,
  however it ends (SIGKILL included), so a dead run never blocks the next one; the
  file itself stays (deleting a lock file races with a process about to lock it).
* `publish_folder`: outputs are written into a temporary sibling folder, then swapped
  with the published folder in one atomic ``renameat2(RENAME_EXCHANGE)`` (Linux);
  where that is unavailable, two renames (old folder aside, new one in). Readers see
  the old folder or the new one, never a mix.
* `recover_folder`: run under the lock before a run starts: puts back a published
  folder left aside by a run killed between the two renames, and removes temporaries
  of killed runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import errno
import fcntl
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

STAGING_PREFIX = ".partial-"
RETIRED_PREFIX = ".old-"


class LockHeldError(RuntimeError):
    """Another process holds the run lock."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        self.holder = holder
        detail = f" ({holder})" if holder else ""
        super().__init__(f"another nightly run holds the lock {path}{detail}; not started")


def lock_path_for(publish: Path) -> Path:
    """The default lock file of a published folder: ``PUBLISH.lock`` beside it."""
    publish = publish.absolute()
    return publish.with_name(publish.name + ".lock")


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``path`` (created if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path.absolute()
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockHeldError(self.path, _read_holder(self.path)) from None
            raise
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire() if self._fd is None else self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def is_lock_held(path: Path) -> bool:
    """Whether some process holds ``path``'s lock (a file that is not there is not held).

    Probes with a second open file, so it also answers True for a lock this process
    holds through `RunLock`."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


# --- the published folder ------------------------------------------------------------------


def _renameat2() -> Callable[..., int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        return libc.renameat2
    except (OSError, AttributeError):
        return None


AT_FDCWD = -100
RENAME_EXCHANGE = 2


def exchange_paths(first: Path, second: Path) -> bool:
    """Atomically swap two existing paths; False where the system cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    result = renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE)
    if result != 0:
        code = ctypes.get_errno()
        if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EXDEV, errno.EPERM):
            return False
        raise OSError(code, os.strerror(code), str(first))
    return True


def _open_up(folder: Path) -> None:
    """mkdtemp makes a 0700 folder; give it the permissions of a plain mkdir."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)


def publish_folder(out_dir: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temporary sibling of ``out_dir``, then swap it in atomically."""
    out_dir = out_dir.absolute()
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} exists and is not a folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}{STAGING_PREFIX}", dir=out_dir.parent))
    _open_up(staging)
    try:
        fill(staging)
        _fsync_folder(staging)
        if not out_dir.exists():
            os.rename(staging, out_dir)
        elif not exchange_paths(staging, out_dir):
            retired = Path(
                tempfile.mkdtemp(prefix=f".{out_dir.name}{RETIRED_PREFIX}", dir=out_dir.parent)
            )
            os.rename(out_dir, retired / out_dir.name)
            os.rename(staging, out_dir)
            shutil.rmtree(retired, ignore_errors=True)
        _fsync(out_dir.parent)
    finally:
        if staging.exists():  # after an exchange it holds the old outputs
            shutil.rmtree(staging, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename is still atomic
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's files and entries to disk, so a power cut cannot undo a publish."""
    for path in folder.iterdir():
        if path.is_file():
            _fsync(path)
    _fsync(folder)


def recover_folder(out_dir: Path) -> list[str]:
    """Undo what a killed `publish_folder` left: restore a folder set aside when
    ``out_dir`` is missing, delete temporaries. Call only under the run lock. Returns
    what was done, for the log."""
    out_dir = out_dir.absolute()
    parent = out_dir.parent
    actions: list[str] = []
    if not parent.is_dir():
        return actions
    retired = sorted(
        parent.glob(f".{out_dir.name}{RETIRED_PREFIX}*"),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    if not out_dir.exists():
        for folder in retired:
            if (folder / out_dir.name).is_dir():
                os.rename(folder / out_dir.name, out_dir)
                actions.append(f"restored {out_dir} from {folder.name}")
                break
    for folder in [*retired, *parent.glob(f".{out_dir.name}{STAGING_PREFIX}*")]:
        shutil.rmtree(folder, ignore_errors=True)
        actions.append(f"removed {folder.name}")
    return actions
