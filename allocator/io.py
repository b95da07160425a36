"""Read an instance folder or workbook into raw text tables, and nothing else.

Every cell is read as text; parsing and checking belong to `allocator.validate`, so a
planner's broken file is reported whole rather than failing on its first bad cell.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from allocator.errors import Problem
from allocator.schema import TABLES

SETTINGS_FILE = "instance.toml"
SETTINGS_SHEET = "instance"


@dataclass
class RawTable:
    """A table as text: ``frame`` is None when the table is absent or unreadable."""

    name: str
    source: str
    frame: pd.DataFrame | None


@dataclass
class RawInstance:
    """What was read from disk, before any check."""

    source: str
    settings: dict[str, Any] | None
    settings_source: str
    tables: dict[str, RawTable]
    problems: list[Problem] = field(default_factory=list)
    settings_rows: dict[str, int] = field(default_factory=dict)
    """Line (TOML) or row (sheet) of each settings key, ``policy.KEY`` style, for messages."""


def read_instance(path: Path) -> RawInstance:
    """Read an instance folder (``instance.toml`` + CSVs) or an ``.xlsx`` workbook."""
    if path.is_dir():
        return _read_folder(path)
    if path.suffix.lower() == ".xlsx" and path.is_file():
        return _read_workbook(path)
    problem = Problem(str(path), None, None, "not an instance folder or .xlsx workbook")
    return RawInstance(str(path), None, str(path), {}, [problem])


def _read_folder(folder: Path) -> RawInstance:
    problems: list[Problem] = []
    rows: dict[str, int] = {}
    settings = _read_toml(folder / SETTINGS_FILE, problems, rows)
    tables = {name: _read_csv(folder, name, problems) for name in TABLES}
    return RawInstance(str(folder), settings, SETTINGS_FILE, tables, problems, rows)


def _read_toml(path: Path, problems: list[Problem], rows: dict[str, int]) -> dict[str, Any] | None:
    if not path.is_file():
        problems.append(Problem(SETTINGS_FILE, None, None, "file is missing"))
        return None
    try:
        # utf-8-sig: an editor's byte-order mark is not a TOML error.
        text = path.read_bytes().decode("utf-8-sig")
        settings = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        match = re.search(r"line (\d+)", str(error))
        row = int(match.group(1)) if match else None
        problems.append(Problem(SETTINGS_FILE, row, None, f"malformed TOML: {error}"))
        return None
    rows.update(_toml_key_lines(text))
    return settings


def _toml_key_lines(text: str) -> dict[str, int]:
    """Line of each ``key = value`` (``table.key`` under a ``[table]`` header), for messages."""
    lines: dict[str, int] = {}
    prefix = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"\s*\[\s*([A-Za-z0-9_.-]+)\s*\]", line)
        if header:
            prefix = header.group(1) + "."
            continue
        key = re.match(r"\s*([A-Za-z0-9_.-]+)\s*=", line)
        if key:
            lines.setdefault(prefix + key.group(1), number)
    return lines


def _read_csv(folder: Path, name: str, problems: list[Problem]) -> RawTable:
    table = TABLES[name]
    path = folder / table.file_name
    if not path.is_file():
        if not table.optional:
            problems.append(Problem(table.file_name, None, None, "file is missing"))
        return RawTable(name, table.file_name, None)
    try:
        # utf-8-sig drops the byte-order mark a spreadsheet writes; pandas handles CRLF.
        # Blank lines are kept (and dropped by `_tidy`) so row numbers stay file lines.
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skip_blank_lines=False
        )
    except pd.errors.EmptyDataError:
        problems.append(Problem(table.file_name, 1, None, "file is empty: no header row"))
        return RawTable(name, table.file_name, None)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        problems.append(Problem(table.file_name, None, None, f"cannot read as CSV: {error}"))
        return RawTable(name, table.file_name, None)
    return RawTable(name, table.file_name, _tidy(frame))


def _read_workbook(path: Path) -> RawInstance:
    problems: list[Problem] = []
    try:
        sheets = pd.read_excel(path, sheet_name=None, dtype=str, na_filter=False, engine="openpyxl")
    except Exception as error:  # openpyxl raises many types for a broken workbook
        problems.append(Problem(path.name, None, None, f"cannot read workbook: {error}"))
        return RawInstance(str(path), None, path.name, {}, problems)
    settings_source = f"{path.name}[{SETTINGS_SHEET}]"
    rows: dict[str, int] = {}
    settings = _settings_from_sheet(sheets.get(SETTINGS_SHEET), settings_source, problems, rows)
    tables: dict[str, RawTable] = {}
    for name, table in TABLES.items():
        source = f"{path.name}[{name}]"
        frame = sheets.get(name)
        if frame is None:
            if not table.optional:
                problems.append(Problem(source, None, None, "sheet is missing"))
            tables[name] = RawTable(name, source, None)
        elif frame.columns.empty:
            problems.append(Problem(source, 1, None, "sheet is empty: no header row"))
            tables[name] = RawTable(name, source, None)
        else:
            tables[name] = RawTable(name, source, _tidy(frame))
    return RawInstance(str(path), settings, settings_source, tables, problems, rows)


def _settings_from_sheet(
    frame: pd.DataFrame | None, source: str, problems: list[Problem], rows: dict[str, int]
) -> dict[str, Any] | None:
    """Turn ``key,value`` rows (``policy.KEY`` for the policy table) into TOML's shape."""
    if frame is None:
        problems.append(Problem(source, None, None, "sheet is missing"))
        return None
    frame = _tidy(frame)
    missing = [column for column in ("key", "value") if column not in frame.columns]
    if missing:
        problems.append(Problem(source, 1, ", ".join(missing), "column is missing"))
        return None
    settings: dict[str, Any] = {}
    for index, key, value in zip(frame.index, frame["key"], frame["value"], strict=True):
        row = int(index) + 2  # sheet row: the header is row 1; `_tidy` keeps the index
        if not key:
            continue
        head, _, tail = key.partition(".")
        target = settings.setdefault(head, {}) if tail else settings
        if not isinstance(target, dict) or (tail or head) in target:
            problems.append(Problem(source, row, "key", f"duplicate or conflicting key {key!r}"))
            continue
        target[tail or head] = value
        rows[key] = row
    return settings


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip white space around headers and cells; drop rows that are blank throughout."""
    frame = frame.rename(columns=lambda column: str(column).strip())
    frame = frame.apply(lambda series: series.astype(str).str.strip())
    blank = (frame == "").all(axis=1)
    return frame.loc[~blank]
