"""The nightly run's locks: one run at a time per published folder.

`RunLock` is an exclusive ``flock`` on a lock file, taken without waiting. The kernel
drops it when the process ends, however it ends (SIGKILL included), so a dead run never
blocks the next one; the file itself stays (deleting a lock file races with a process
about to lock it). A run always locks its published folder (`lock_path_for`: the file
``PUBLISH.lock`` beside it, named from the folder's real path, so two spellings of one
folder are one lock); a ``--lock`` file is taken as well, never instead. The folder
itself is swapped in by `allocator.atomic.publish_folder`.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import os
import socket
from pathlib import Path


class LockHeldError(RuntimeError):
    """Another process holds the run lock."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        self.holder = holder
        detail = f" ({holder})" if holder else ""
        super().__init__(f"another nightly run holds the lock {path}{detail}; not started")


def lock_path_for(publish: Path) -> Path:
    """The lock file of a published folder: ``PUBLISH.lock`` beside it, from the folder's
    real path (symbolic links followed), so every spelling of one folder shares it."""
    publish = Path(os.path.abspath(publish)).resolve()
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
