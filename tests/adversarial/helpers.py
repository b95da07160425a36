"""Helpers of the adversarial suite: allocator run as a real process, as a user or a
script would run it, and the checks every hostile case shares (the right exit code, one
clear message, no traceback, nothing destroyed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "instances" / "tiny"
BASE = ROOT / "instances" / "base-2027"
SMALL = TINY / "services-waterfall"
"""A one-period instance that solves in milliseconds: the process costs are imports."""


def allocator(
    *args: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``python -m allocator ARGS`` in a fresh process (the real exit code and streams)."""
    environment = dict(os.environ)
    environment.pop("ALLOCATOR_TRACEBACK", None)
    environment.pop("ALLOCATOR_FAILPOINT", None)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "allocator", *map(str, args)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_refused(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    """Exit ``code``, a message naming each fragment, and no Python traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip(), "a refusal must say why"
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for folders and links)."""
    found: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        found[key] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return found


def copy_instance(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    (target / "expected.toml").unlink(missing_ok=True)
    return target


def set_cell(folder: Path, table: str, row: int, column: str, value: str) -> None:
    """Data row ``row`` (1 = first under the header, file line row + 1) of ``table``.csv."""
    path = folder / f"{table}.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    fields = lines[row].split(",")
    fields[header.index(column)] = value
    lines[row] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def as_workbook(folder: Path, path: Path) -> Path:
    """The instance folder as one .xlsx (cells as the CSVs' text; key,value settings)."""
    import tomllib

    import pandas as pd

    settings = tomllib.loads((folder / "instance.toml").read_text(encoding="utf-8"))
    rows = [(key, str(value)) for key, value in settings.items() if key != "policy"]
    rows += [(f"policy.{key}", str(value)) for key, value in settings["policy"].items()]
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame(rows, columns=["key", "value"]).to_excel(
            writer, sheet_name="instance", index=False
        )
        for csv_path in sorted(folder.glob("*.csv")):
            table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
            table.to_excel(writer, sheet_name=csv_path.stem, index=False)
    return path
