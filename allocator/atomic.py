"""Atomic outputs: whole files and folders, never written over what allocator did not write.

A file or a whole folder appears complete or not at all.

* `write_file`: ``write`` into a temporary sibling, then rename it over the target.
* `publish_folder`: fill a temporary sibling folder, then swap it with the target folder
  in one atomic ``renameat2(RENAME_EXCHANGE)`` (Linux); where that is unavailable, two
  renames (old folder aside, new one in). Readers see the old folder or the new one,
  never a mix. Every folder written this way carries `MARKER_FILE`.
* `check_replaceable`: the guard before any folder is replaced. A folder may only be
  replaced when it is new, empty, or was written by allocator (its marker, or only
  allocator's own file names); never the current folder or one of its parents, the file
  system's root, an instance being read or a folder holding one.

Temporaries (``.NAME.partial-*`` folders, ``.NAME.old-*`` folders, ``.NAME.*.part``
files) are ``flock``-ed by the process writing them. A process killed mid-write leaves
them behind unlocked; the next write to the same target removes every unlocked one
(`recover_folder`, `_remove_stale_files`), and restores a folder a killed swap left
aside. All files get the permissions of a plain ``open`` under the umask.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from allocator.faults import failpoint

MARKER_FILE = ".allocator"
"""Written into every folder allocator writes whole: the sign that allocator may replace it."""
MARKER_TEXT = "written by allocator: this folder may be replaced by allocator's next write\n"
STAGING_PREFIX = ".partial-"
RETIRED_PREFIX = ".old-"
PART_SUFFIX = ".part"

OWN_NAMES = frozenset(
    {
        "summary.json",
        "allocation.csv",
        "surplus.csv",
        "customers.csv",
        "stock.csv",
        "marginal_values.csv",
        "conflicts.csv",
        "report.html",
        "plan.xlsx",
        "manifest.json",
        "deals.csv",
        "problems.csv",
        "highs.log",
        "scenario.json",
        "sweep.csv",
        "sweep.json",
        "policy_cost.csv",
        "stochastic.json",
        "first_stage.csv",
        "scenario_results.csv",
        "recourse.json",
    }
)
OWN_FOLDERS = frozenset(
    {"scenarios", "charts", "wait_and_see", "mean_scenario", "mean_first_stage"}
)
RECORD_NAMES = ("summary.json", "manifest.json", "sweep.json")
"""Result and sweep folders written before folders carried `MARKER_FILE`: a folder
holding only `OWN_NAMES` files and `OWN_FOLDERS` (and one of `RECORD_NAMES`) is also
allocator's."""


class OutputError(ValueError):
    """An output path allocator refuses or cannot use; the message says why (one line)."""


# --- the guard ---------------------------------------------------------------------------


def resolve_output(path: Path) -> Path:
    """The folder ``path`` names, absolute, with a symbolic link followed (the link stays,
    its target is written); `OutputError` for a link to nothing."""
    absolute = Path(os.path.abspath(path))
    if absolute.is_symlink():
        target = absolute.resolve()
        if not target.exists() and not target.parent.is_dir():
            raise OutputError(f"{path} is a symbolic link to {target}, which does not exist")
        return target
    return absolute


def check_replaceable(target: Path, *, protected: Sequence[Path] = (), what: str = "--out") -> None:
    """Raise `OutputError` unless the folder ``target`` (absolute) may be written whole,
    replacing what is there (see the module docstring). ``protected``: instance paths
    that must survive (the target may be neither one of them nor contain one)."""
    real = target.resolve()
    cwd = Path.cwd().resolve()
    if real == Path(real.anchor):
        raise OutputError(f"{what} {target} is the file system's root; name a new folder")
    if real == cwd or real in cwd.parents:
        raise OutputError(
            f"{what} {target} is the current folder or one of its parents; name a new folder"
        )
    for path in protected:
        kept = Path(os.path.abspath(path)).resolve()
        if real == kept or real in kept.parents:
            raise OutputError(
                f"{what} {target} is the instance {path} or a folder holding it; "
                "name a folder of its own"
            )
    if not real.exists():
        return
    if not real.is_dir():
        raise OutputError(f"{what} {target} exists and is not a folder")
    try:
        names = sorted(entry.name for entry in real.iterdir())
    except OSError as error:
        raise OutputError(f"{what} {target} cannot be read: {error.strerror}") from None
    if not names or MARKER_FILE in names or _only_own_files(real, names):
        return
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    raise OutputError(
        f"{what} {target} holds files allocator did not write ({shown}); "
        "name a new or empty folder, or one allocator wrote"
    )


def _only_own_files(folder: Path, names: list[str]) -> bool:
    has_record = any(name in names for name in RECORD_NAMES)
    return has_record and all(
        (name in OWN_NAMES and (folder / name).is_file())
        or (name in OWN_FOLDERS and (folder / name).is_dir())
        for name in names
    )


# --- locks on temporaries ------------------------------------------------------------------


def _lock(path: Path) -> int:
    """An exclusive flock on a file or folder we just created (never contended)."""
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


@contextlib.contextmanager
def _if_abandoned(path: Path) -> Iterator[bool]:
    """Whether nobody holds ``path``'s lock (its writer died); held while inside."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        yield False
        return
    try:
        yield True
    finally:
        _unlock(fd)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# --- files -----------------------------------------------------------------------------------


def write_file(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` into a locked temporary sibling of ``path``, then rename it over ``path``:
    a reader never sees a half-written file, and an earlier file stays until then."""
    path = Path(os.path.abspath(path))
    if path.is_dir():
        raise OutputError(f"{path} is a folder; name a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_files(path)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PART_SUFFIX, dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    fd = _lock(temporary)
    try:
        write(temporary)
        temporary.chmod(0o666 & ~_umask())  # mkstemp makes it 0600
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
        _unlock(fd)


def _remove_stale_files(path: Path) -> None:
    for stale in path.parent.glob(f".{path.name}.*{PART_SUFFIX}"):
        with _if_abandoned(stale) as abandoned:
            if abandoned:
                stale.unlink(missing_ok=True)


def json_text(data: Any) -> str:
    """Strict JSON (RFC 8259): NaN and infinities become null, which Python's json would
    write as NaN/Infinity that other readers refuse."""
    return json.dumps(finite(data), indent=2, default=str, allow_nan=False) + "\n"


def finite(data: Any) -> Any:
    """``data`` with every non-finite float replaced by None (recursively)."""
    if isinstance(data, float) and (data != data or data in (float("inf"), float("-inf"))):
        return None
    if isinstance(data, dict):
        return {str(key): finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite(value) for value in data]
    return data


def write_json(path: Path, data: Any) -> None:
    """``data`` as strict JSON (`json_text`), into ``path`` as it is (no temporary): for
    files inside a folder that `publish_folder` is filling."""
    path.write_text(json_text(data), encoding="utf-8")


def write_json_atomically(path: Path, data: Any) -> None:
    text = json_text(data)
    write_file(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


# --- folders ---------------------------------------------------------------------------------


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


def publish_folder(
    out_dir: Path,
    fill: Callable[[Path], None],
    *,
    protected: Sequence[Path] = (),
    what: str = "--out",
) -> Path:
    """Fill a temporary sibling of ``out_dir`` (with `MARKER_FILE`), then swap it in
    atomically; the folder written (a symbolic link's target). Raises `OutputError` when
    ``out_dir`` may not be replaced (`check_replaceable`) before anything is written."""
    target = resolve_output(out_dir)
    check_replaceable(target, protected=protected, what=what)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_folder(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}{STAGING_PREFIX}", dir=target.parent))
    fd = _lock(staging)
    try:
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700
        (staging / MARKER_FILE).write_text(MARKER_TEXT, encoding="utf-8")
        fill(staging)
        _fsync_folder(staging)
        failpoint("publish:staged")
        _swap_in(staging, target)
        failpoint("publish:swapped")
        _fsync(target.parent)
    finally:
        if staging.exists():  # after an exchange it holds the old outputs
            shutil.rmtree(staging, ignore_errors=True)
        _unlock(fd)
    return target


def _swap_in(staging: Path, target: Path) -> None:
    if not target.exists():
        try:
            os.rename(staging, target)
            return
        except OSError as error:  # another writer got there first: replace its folder
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    if exchange_paths(staging, target):
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}{RETIRED_PREFIX}", dir=target.parent))
    fd = _lock(retired)
    try:
        os.rename(target, retired / target.name)
        failpoint("publish:retired")
        os.rename(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        _unlock(fd)


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
    """Undo what a killed `publish_folder` left beside ``out_dir``: restore the folder a
    swap set aside when ``out_dir`` is missing, delete abandoned temporaries. Temporaries
    another live process holds are left alone. Returns what was done, for a log."""
    out_dir = Path(os.path.abspath(out_dir))
    parent = out_dir.parent
    actions: list[str] = []
    if not parent.is_dir():
        return actions
    retired = sorted(
        parent.glob(f".{out_dir.name}{RETIRED_PREFIX}*"),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    for folder in [*retired, *parent.glob(f".{out_dir.name}{STAGING_PREFIX}*")]:
        with _if_abandoned(folder) as abandoned:
            if not abandoned:
                continue
            kept = folder / out_dir.name
            is_retired = folder.name.startswith(f".{out_dir.name}{RETIRED_PREFIX}")
            if is_retired and kept.is_dir() and not out_dir.exists():
                os.rename(kept, out_dir)
                actions.append(f"restored {out_dir} from {folder.name}")
            shutil.rmtree(folder, ignore_errors=True)
            actions.append(f"removed {folder.name}")
    return actions
