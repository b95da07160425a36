"""``allocator report``: ``report.html`` and ``plan.xlsx`` next to a result's files.
Never imports Pyomo.

Reads only the result folder (and the instance, when ``customers.csv`` has no
``why_short`` column yet, to explain the waiting lists). Every file is written to a
temporary sibling and renamed into place, so a reader never sees half a report.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from allocator.atomic import write_file
from allocator.data.instance import Instance
from allocator.outputs.folder import (
    REPORT_FILE,
    WORKBOOK_FILE,
    ResultFolder,
    ResultFolderError,
    read_result_folder,
)
from allocator.outputs.html import render_report
from allocator.outputs.workbook import write_workbook

_NO_SURPLUS = pd.DataFrame({"product": [], "period": [], "racks": []})


class ReportError(Exception):
    """The folder cannot be reported on (no result in it, or no instance to explain it)."""


def write_report(result_dir: Path, instance: Instance | None = None) -> list[Path]:
    """Write ``report.html`` and ``plan.xlsx`` into ``result_dir``; the files written.

    ``instance`` is the solved instance; it is needed only when ``customers.csv`` lacks
    ``why_short`` (a result written before that column existed), and is then loaded
    from ``summary.json``'s ``instance.source`` when not given. A sweep folder
    (``sweep.csv``) gets its chart and sheet; a folder with both gets both.
    """
    try:
        folder = read_result_folder(result_dir)
    except (FileNotFoundError, ResultFolderError) as error:
        raise ReportError(str(error)) from None
    folder = _with_why_short(folder, instance)
    html_path = result_dir / REPORT_FILE
    page = render_report(folder)

    def write_page(path: Path) -> None:
        path.write_text(page, encoding="utf-8")

    write_file(html_path, write_page)
    workbook_path = result_dir / WORKBOOK_FILE
    write_file(workbook_path, lambda path: write_workbook(folder, path))
    return [html_path, workbook_path]


def _with_why_short(folder: ResultFolder, instance: Instance | None) -> ResultFolder:
    """The folder with ``why_short`` in its customers, computed and written back into
    ``customers.csv`` (atomically) when the solve did not write it."""
    if not folder.has_plan:
        return folder
    assert folder.customers is not None and folder.allocation is not None
    if "why_short" in folder.customers.columns:
        return folder
    from allocator.explain.why import why_short_column

    instance = instance or _solved_instance(folder)
    _check_same_instance(folder, instance)
    customers = folder.customers.copy()
    surplus = folder.surplus if folder.surplus is not None else _NO_SURPLUS
    customers["why_short"] = why_short_column(
        instance, folder.allocation, surplus, customers, folder.marginal_values
    )
    write_file(
        folder.path / "customers.csv",
        lambda path: customers.to_csv(path, index=False, lineterminator="\n"),
    )
    return folder.with_customers(customers)


def _solved_instance(folder: ResultFolder) -> Instance:
    from allocator.data.validate import load_instance
    from allocator.errors import InstanceError

    source = (folder.summary.get("instance") or {}).get("source")
    path = Path(str(source)) if source else None
    if path is None or not path.exists():
        raise ReportError(
            f"customers.csv in {folder.path} has no why_short column and the solved instance "
            f"({source or 'not recorded'}) is not found: give it with --instance"
        )
    try:
        return load_instance(path)
    except InstanceError as error:
        raise ReportError(f"the instance at {path} is invalid:\n{error.describe()}") from None


def _check_same_instance(folder: ResultFolder, instance: Instance) -> None:
    recorded = (folder.summary.get("instance") or {}).get("content_hash")
    if recorded and recorded != instance.content_hash:
        raise ReportError(
            f"the instance given is not the one solved into {folder.path} (content hash "
            f"{instance.content_hash[:12]}, the result says {str(recorded)[:12]}): give the "
            "solved instance with --instance"
        )
