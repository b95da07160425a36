"""Check raw tables against the schema; report every problem at once.

Many small ``check_*`` functions, each adding to one list of `Problem`, run in order:
files and columns first, then cell values, then keys and references. A check that
needs a column or table another check found broken skips it, so one mistake is not
reported five times. `load_instance` is the entry point: a valid `Instance`, or one
`InstanceError` listing every problem with file, row and column.
"""

from __future__ import annotations

import dataclasses
import math
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from allocator.data.instance import Instance, Policy, Settings, build_instance
from allocator.data.read import RawInstance, RawTable, read_instance
from allocator.data.schema import (
    MAX_PERIODS,
    SEGMENTS,
    SETTINGS,
    TABLES,
    Column,
    Setting,
    bounds_text,
)
from allocator.errors import InstanceError, Problem

MAX_ROWS_PER_PROBLEM = 20
"""A column with more bad rows than this is reported with the first ones and a count."""


def load_instance(path: Path | str) -> Instance:
    """Read and validate an instance folder or workbook: a valid `Instance` (its
    ``source`` the path given), or one `InstanceError` listing every problem."""
    instance = validate(read_instance(Path(path)))
    return dataclasses.replace(instance, source=str(path))


def validate(raw: RawInstance) -> Instance:
    problems = list(raw.problems)
    settings = check_settings(
        raw.settings, raw.settings_source, problems, raw.settings_rows, as_text=raw.settings_as_text
    )
    periods = settings.periods if settings else None
    typed: dict[str, pd.DataFrame | None] = {}
    for name, table in raw.tables.items():
        typed[name] = check_table(table, periods, problems)
    check_keys(raw.tables, typed, problems)
    check_references(raw.tables, typed, problems)
    check_segment_columns(
        raw.tables.get("customers"),
        typed.get("customers"),
        problems,
    )
    check_substitutes(raw.tables.get("substitutes"), typed, problems)
    if problems or settings is None:
        raise InstanceError(raw.source, sorted(set(problems), key=_problem_order))
    tables = {name: frame for name, frame in typed.items() if frame is not None}
    for name, schema_table in TABLES.items():
        if schema_table.optional:
            tables.setdefault(name, _empty_table(name))
    return build_instance(settings, tables)


def _problem_order(problem: Problem) -> tuple[str, int, str, str]:
    return (problem.file, problem.row or 0, problem.column or "", problem.message)


# --- instance.toml -------------------------------------------------------------------


def check_settings(
    raw: dict[str, Any] | None,
    source: str,
    problems: list[Problem],
    rows: dict[str, int] | None = None,
    *,
    as_text: bool = False,
) -> Settings | None:
    """Every required key present, of its type and in range; no unknown key. ``rows``
    gives the line (TOML) or sheet row of each key, for the messages. ``as_text``: the
    values are a sheet's text cells; TOML values must have their type (an integer key
    takes no string and no float)."""
    if raw is None:
        return None
    rows = rows or {}
    values: dict[str, Any] = {}
    known = {setting.key for setting in SETTINGS}
    for key in sorted(_flatten(raw)):
        if key not in known:
            problems.append(Problem(source, rows.get(key), key, "unknown key"))
    flat = _flatten(raw)
    for setting in SETTINGS:
        if setting.key not in flat:
            if setting.required:
                problems.append(Problem(source, None, setting.key, "required key is missing"))
            values[setting.key] = setting.default
            continue
        value, message = _parse_setting(setting, flat[setting.key], as_text)
        if message:
            problems.append(Problem(source, rows.get(setting.key), setting.key, message))
        values[setting.key] = value
    if any(problem.file == source for problem in problems):
        return None
    return Settings(
        name=str(values["name"]),
        periods=int(values["periods"]),
        start=values["start"],
        currency=str(values["currency"]),
        policy=Policy(
            third_party_max_share=float(values["policy.third_party_max_share"]),
            internal_shortfall_penalty=float(values["policy.internal_shortfall_penalty"]),
            priority_rule=str(values["policy.priority_rule"]),
            fair_share=values["policy.fair_share"] in (True, "true"),
        ),
    )


def _flatten(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _parse_setting(setting: Setting, value: Any, as_text: bool) -> tuple[Any, str | None]:
    if setting.kind == "choice":
        choice = value.strip() if isinstance(value, str) else None
        if choice not in setting.choices:
            return None, f"must be one of {', '.join(setting.choices)} (got {value!r})"
        return choice, None
    if setting.kind == "bool":
        if isinstance(value, bool):
            return value, None
        if as_text and isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true", None
        return None, f"must be true or false (got {value!r})"
    if setting.kind == "text":
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            return None, f"must be non-empty text (got {value!r})"
        bad = forbidden_character(text)
        if bad:
            return None, f"contains {bad}"
        if setting.key == "start":
            try:
                pd.Period(text, freq="M")
            except ValueError:
                return None, f"must be a month like 2027-01 (got {value!r})"
        return text, None
    number = _to_number(value, as_text)
    if number is None or not math.isfinite(number):
        what = "a whole number" if setting.kind == "int" else "a finite number"
        return None, f"must be {what} (got {value!r})"
    if setting.kind == "int" and not (float(number).is_integer() and _is_int(value, as_text)):
        return None, f"must be a whole number (got {value!r})"
    if (setting.minimum is not None and number < setting.minimum) or (
        setting.maximum is not None and number > setting.maximum
    ):
        return None, f"must be in {bounds_text(setting.minimum, setting.maximum)} (got {value!r})"
    return (int(number) if setting.kind == "int" else float(number)), None


def _to_number(value: Any, as_text: bool) -> float | None:
    """A TOML number (int or float, never bool or text), or a sheet's text cell."""
    if as_text and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond float's range
        return math.inf


def _is_int(value: Any, as_text: bool) -> bool:
    """TOML integers only (``24``, not ``24.0``); a sheet cell holds numbers as text."""
    return as_text or (isinstance(value, int) and not isinstance(value, bool))


FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
"""Unicode categories no identifier may contain: control characters (NUL, newline, tab),
invisible format characters (right-to-left overrides, zero-width spaces), surrogates,
private use, line and paragraph separators. Such an id looks like another on screen or
breaks the files written from it."""


def forbidden_character(text: str) -> str | None:
    """A description of the first character of ``text`` an identifier may not hold."""
    if text.isascii() and text.isprintable():  # no ASCII control, nothing outside ASCII
        return None
    for char in text:
        if unicodedata.category(char) in FORBIDDEN_CATEGORIES:
            name = unicodedata.name(char, "a control character")
            return f"a control or invisible character U+{ord(char):04X} ({name.lower()})"
    return None


# --- tables: columns and cells -------------------------------------------------------


def check_table(raw: RawTable, periods: int | None, problems: list[Problem]) -> pd.DataFrame | None:
    """Columns present and every cell parsed to its kind and range: the typed frame (a
    bad cell is missing, NA, so that the key and reference checks still run on the rest
    and report every problem at once), or None when a column is missing."""
    if raw.frame is None:
        return None
    table = TABLES[raw.name]
    missing = [
        column.name
        for column in table.columns
        if column.name not in raw.frame.columns and column.default is None
    ]
    for name in missing:
        problems.append(Problem(raw.source, 1, name, "column is missing"))
    if missing:
        return None
    typed = pd.DataFrame(index=raw.frame.index)
    for column in table.columns:
        if column.name not in raw.frame.columns:  # an optional column: its default
            typed[column.name] = pd.Series(column.default, index=raw.frame.index).astype(
                "int64" if column.kind == "int" else "float64"
            )
            continue
        values, bad = check_column(raw, column, periods, problems)
        typed[column.name] = values.where(~bad) if bad.any() else values
    return typed


def check_column(
    raw: RawTable, column: Column, periods: int | None, problems: list[Problem]
) -> tuple[pd.Series, pd.Series]:
    """Parse one column; add a problem for each bad cell (first `MAX_ROWS_PER_PROBLEM`).
    The parsed values and which cells are bad."""
    assert raw.frame is not None
    text = raw.frame[column.name]
    if column.default is not None:  # an empty cell of an optional column: its default
        text = text.where(text != "", f"{column.default:g}")
    empty = text == ""
    _report(raw, column.name, empty, "missing value", problems)
    if column.kind in ("id", "ref"):
        bad_values = {value for value in text.unique() if forbidden_character(value)}
        for value in sorted(bad_values):
            rows = text == value
            _report(raw, column.name, rows, str(forbidden_character(value)), problems, text)
        return text, empty | text.isin(bad_values)
    if column.kind == "segment":
        bad = ~empty & ~text.isin(SEGMENTS)
        _report(raw, column.name, bad, f"must be one of {', '.join(SEGMENTS)}", problems, text)
        return text, empty | bad
    number = pd.to_numeric(text.where(~empty), errors="coerce").astype("float64")
    not_number = ~empty & number.isna()
    _report(raw, column.name, not_number, "not a number", problems, text)
    infinite = number.abs() == np.inf
    _report(raw, column.name, infinite, "not a finite number", problems, text)
    finite = number.notna() & ~infinite
    if column.kind == "int":
        fractional = finite & (number != np.floor(number))
        _report(raw, column.name, fractional, "must be a whole number", problems, text)
    low = column.minimum
    high = column.maximum
    if column.period:  # 1..periods; with periods unknown (a bad instance.toml), its maximum
        high = float(periods if periods is not None else MAX_PERIODS)
    out_of_range = finite & (
        (number < low if low is not None else False)
        | (number > high if high is not None else False)
    )
    _report(raw, column.name, out_of_range, f"must be in {bounds_text(low, high)}", problems, text)
    valid = finite & ~out_of_range
    if column.kind == "int":
        # cast only what was checked: a whole number in range (the schema's maxima keep
        # every count far inside int64); anything else is reported (and then masked)
        valid &= number == np.floor(number)
        return number.where(valid, 0.0).astype("int64"), ~valid
    return number, ~valid


def _report(
    raw: RawTable,
    column: str,
    bad: pd.Series,
    message: str,
    problems: list[Problem],
    text: pd.Series | None = None,
) -> None:
    assert raw.frame is not None
    rows = raw.frame.index[bad.to_numpy()]
    for position, index in enumerate(rows):
        if position == MAX_ROWS_PER_PROBLEM:
            more = len(rows) - MAX_ROWS_PER_PROBLEM
            problems.append(Problem(raw.source, None, column, f"{message}: {more} more rows"))
            break
        shown = f" (got {text.loc[index]!r})" if text is not None else ""
        problems.append(Problem(raw.source, _row_number(index), column, message + shown))


def _row_number(index: Any) -> int:
    """File line of a data row: the header is line 1."""
    return int(index) + 2


def _empty_table(name: str) -> pd.DataFrame:
    table = TABLES[name]
    dtypes = {
        column.name: (
            "int64" if column.kind == "int" else "float64" if column.kind == "number" else "object"
        )
        for column in table.columns
    }
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


# --- keys and references -------------------------------------------------------------


def check_keys(
    raw_tables: dict[str, RawTable], typed: dict[str, pd.DataFrame | None], problems: list[Problem]
) -> None:
    """Identifiers are unique in their table (the table's key, e.g. product + period)."""
    for name, frame in typed.items():
        if frame is None:
            continue
        key = list(TABLES[name].key)
        frame = frame.dropna(subset=key)  # a bad key cell is reported already
        duplicated = frame.duplicated(key, keep="first")
        if not duplicated.any():
            continue
        first_row = {
            tuple(values): _row_number(index)
            for index, values in zip(frame.index, frame[key].itertuples(index=False), strict=True)
            if not duplicated.loc[index]
        }
        for index in frame.index[duplicated.to_numpy()]:
            values = tuple(frame.loc[index, key])
            shown = ", ".join(str(value) for value in values)
            problems.append(
                Problem(
                    raw_tables[name].source,
                    _row_number(index),
                    key[0],
                    f"duplicate {'/'.join(key)} {shown!r} (first at row {first_row[values]})",
                )
            )


def check_references(
    raw_tables: dict[str, RawTable], typed: dict[str, pd.DataFrame | None], problems: list[Problem]
) -> None:
    """Every reference (order to customer, order to product, ...) resolves."""
    for name, frame in typed.items():
        if frame is None:
            continue
        for column in TABLES[name].columns:
            if column.ref is None:
                continue
            target_table, target_column = column.ref
            target = typed.get(target_table)
            if target is None:
                continue
            given = frame[column.name]
            unknown = given.notna() & ~given.isin(set(target[target_column].dropna()))
            for index in frame.index[unknown.to_numpy()]:
                problems.append(
                    Problem(
                        raw_tables[name].source,
                        _row_number(index),
                        column.name,
                        f"unknown {target_column} {frame.loc[index, column.name]!r} "
                        f"(not in {raw_tables[target_table].source})",
                    )
                )


def check_segment_columns(
    raw: RawTable | None, customers: pd.DataFrame | None, problems: list[Problem]
) -> None:
    """``min_fill`` only for internal customers; deal terms only for third parties."""
    if raw is None or customers is None:
        return
    rules: Iterable[tuple[str, str]] = (
        ("min_fill", "third_party"),
        ("onboarding_cost", "internal"),
        ("min_contract_racks", "internal"),
    )
    for column, segment in rules:
        value = customers[column]
        bad = (customers["segment"] == segment) & value.notna() & (value != 0)
        for index in customers.index[bad.to_numpy()]:
            problems.append(
                Problem(
                    raw.source,
                    _row_number(index),
                    column,
                    f"must be 0 for {'an' if segment == 'internal' else 'a'} {segment} customer",
                )
            )


def check_substitutes(
    raw: RawTable | None, typed: dict[str, pd.DataFrame | None], problems: list[Problem]
) -> None:
    """A substitute is another product than the order's own."""
    substitutes, orders = typed.get("substitutes"), typed.get("orders")
    if raw is None or substitutes is None or orders is None:
        return
    known = orders.dropna(subset=["order"]).drop_duplicates("order")
    own = substitutes["order"].map(known.set_index("order")["product"])
    for index in substitutes.index[(substitutes["product"] == own).to_numpy()]:
        problems.append(
            Problem(
                raw.source,
                _row_number(index),
                "product",
                f"{substitutes.loc[index, 'product']!r} is order "
                f"{substitutes.loc[index, 'order']!r}'s own product, not a substitute",
            )
        )
