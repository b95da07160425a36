"""Read an instance folder or workbook into raw text tables, and nothing else.

Every cell is read as text; parsing and checking belong to `allocator.data.validate`, so a
planner's broken file is reported whole rather than failing on its first bad cell.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from allocator.data.schema import TABLES
from allocator.errors import Problem

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
    settings_as_text: bool = False
    """True when the settings came from a sheet (every value is text); TOML values keep
    their types, so ``periods = "24"`` or ``24.0`` is refused there."""


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
    return RawTable(name, table.file_name, read_csv_text(path, table.file_name, problems))


def read_csv_text(path: Path, source: str, problems: list[Problem]) -> pd.DataFrame | None:
    """A CSV file as a text frame indexed by file line - 2 (see `_frame`); None, with the
    problem added, when it cannot be read (not UTF-8, not CSV, no header). Also for
    files beside an instance (``scenarios.csv`` of a two-stage plan)."""
    try:
        # utf-8-sig drops the byte-order mark a spreadsheet writes
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        problems.append(Problem(source, None, None, f"not UTF-8 text: {error}"))
        return None
    except OSError as error:
        problems.append(Problem(source, None, None, f"cannot read: {error.strerror}"))
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for fields in reader:
            records.append((line, fields))  # the line the record starts on
            line = reader.line_num + 1
    except csv.Error as error:
        problems.append(Problem(source, line, None, f"cannot read as CSV: {error}"))
        return None
    # with no white space but line ends and no quoted cell, no cell has any to strip
    needs_strip = _SPACE_OR_QUOTE.search(text) is not None
    return _frame(source, records, problems, needs_strip=needs_strip)


_SPACE_OR_QUOTE = re.compile(r'[^\S\n]|"')
"""White space other than a line feed (what ``str.strip`` removes: ``\\s`` is the same set),
or a quote (a quoted cell may hold a line feed)."""


def _frame(
    source: str,
    records: list[tuple[int, list[str]]],
    problems: list[Problem],
    *,
    needs_strip: bool = True,
) -> pd.DataFrame | None:
    """The records (file line, fields) under their header row as a text frame indexed by
    file line - 2 (so that a problem's row is the line). Reported here: no header, a
    duplicate column name (then no frame), a row with more fields than the header (its
    values would land in the wrong columns: the row is left out, the others are checked),
    values under a column without a name."""
    if not records or not any(cell.strip() for cell in records[0][1]):
        what = "sheet" if source.endswith("]") else "file"
        problems.append(Problem(source, 1, None, f"{what} is empty: no header row"))
        return None
    header = [cell.strip() for cell in records[0][1]]
    duplicated = False
    seen: dict[str, int] = {}
    for position, column in enumerate(header, start=1):
        if column and column in seen:
            problems.append(
                Problem(
                    source,
                    1,
                    column,
                    f"duplicate column name (columns {seen[column]} and {position})",
                )
            )
            duplicated = True
        seen.setdefault(column, position)
    width = len(header)
    rows: list[list[str]] = []
    index: list[int] = []
    for line, fields in records[1:]:
        if len(fields) > width and any(cell.strip() for cell in fields[width:]):
            problems.append(
                Problem(
                    source,
                    line,
                    None,
                    f"row has {len(fields)} fields but the header names {width} columns",
                )
            )
            continue
        rows.append((fields + [""] * width)[:width])
        index.append(line - 2)
    frame = pd.DataFrame(rows, columns=header, index=index, dtype=object).astype(str)
    unnamed = [position for position, column in enumerate(header) if not column]
    for position in unnamed:
        filled = frame.iloc[:, position].str.strip() != ""
        if filled.any():
            line = int(frame.index[filled.to_numpy()][0]) + 2
            problems.append(
                Problem(source, line, None, f"value under column {position + 1}, which has no name")
            )
    if duplicated:  # which of the two is meant cannot be told: the table is not read
        return None
    frame = frame.loc[:, [column for column in header if column]]
    return _tidy(frame, needs_strip=needs_strip)


def _read_workbook(path: Path) -> RawInstance:
    problems: list[Problem] = []
    try:
        sheets = pd.read_excel(
            path, sheet_name=None, dtype=str, na_filter=False, engine="openpyxl", header=None
        )
    except Exception as error:  # openpyxl raises many types for a broken workbook
        problems.append(Problem(path.name, None, None, f"cannot read workbook: {error}"))
        return RawInstance(str(path), None, path.name, {}, problems)
    settings_source = f"{path.name}[{SETTINGS_SHEET}]"
    rows: dict[str, int] = {}
    settings_frame = None
    if SETTINGS_SHEET in sheets:
        settings_frame = _frame(settings_source, _sheet_records(sheets[SETTINGS_SHEET]), problems)
    settings = _settings_from_sheet(
        settings_frame, settings_source, problems, rows, SETTINGS_SHEET in sheets
    )
    tables: dict[str, RawTable] = {}
    for name, table in TABLES.items():
        source = f"{path.name}[{name}]"
        sheet = sheets.get(name)
        if sheet is None:
            if not table.optional:
                problems.append(Problem(source, None, None, "sheet is missing"))
            tables[name] = RawTable(name, source, None)
            continue
        tables[name] = RawTable(name, source, _frame(source, _sheet_records(sheet), problems))
    return RawInstance(str(path), settings, settings_source, tables, problems, rows, True)


def _sheet_records(sheet: pd.DataFrame) -> list[tuple[int, list[str]]]:
    """A sheet read without a header as (sheet row, cells) records."""
    return [
        (position + 1, ["" if cell is None else str(cell) for cell in cells])
        for position, cells in enumerate(sheet.itertuples(index=False, name=None))
    ]


def _settings_from_sheet(
    frame: pd.DataFrame | None,
    source: str,
    problems: list[Problem],
    rows: dict[str, int],
    present: bool,
) -> dict[str, Any] | None:
    """Turn ``key,value`` rows (``policy.KEY`` for the policy table) into TOML's shape."""
    if frame is None:
        if not present:
            problems.append(Problem(source, None, None, "sheet is missing"))
        return None
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


def _tidy(frame: pd.DataFrame, *, needs_strip: bool = True) -> pd.DataFrame:
    """Strip white space around headers and cells (unless the text is known to have
    none); drop rows that are blank throughout."""
    frame = frame.rename(columns=lambda column: str(column).strip())
    if needs_strip:
        frame = frame.apply(lambda series: series.astype(str).str.strip())
    blank = (frame == "").all(axis=1)
    return frame.loc[~blank]
