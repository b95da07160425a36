"""What a dead nightly run left behind: its store rows, marked abandoned or published.

A row is ``published`` when its outputs did reach the published folder.

A run killed at any point leaves a ``running`` or ``stored`` row; the next run on the
same host, holding the published folder's lock, finds it here.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from allocator.nightly.config import NightlyConfig
from allocator.nightly.lock import is_lock_held
from allocator.nightly.store import ABANDONED, PUBLISHED, STORED, RunStore


def published_run_id(folder: Path) -> int | None:
    """The run id in a published folder's manifest.json, if any."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        return int(manifest["run_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def abandon_stale_runs(store: RunStore, config: NightlyConfig, current_run: int) -> dict[int, str]:
    """Mark the unfinished rows whose process is gone: on this host, and their lock is
    this run's (which it holds) or no longer held. A ``stored`` row whose outputs did
    reach its published folder becomes ``published``. Rows of other hosts are left for
    their own host's next run (a lock cannot be probed across machines). Returns the
    marked run ids and their new status."""
    host = socket.gethostname()
    marked: dict[int, str] = {}
    for row in store.unfinished_runs():
        if row["id"] == current_run or row["host"] != host:
            continue
        lock = Path(row["lock_path"]) if row["lock_path"] else None
        if lock is not None and lock != config.lock_path and is_lock_held(lock):
            continue
        publish = Path(row["publish_path"]) if row["publish_path"] else None
        if row["status"] == STORED and publish and published_run_id(publish) == row["id"]:
            status, message = PUBLISHED, f"publish confirmed by run {current_run}"
        else:
            status = ABANDONED
            message = (
                f"abandoned: its process ended while {row['phase'] or row['status']} "
                f"(found by run {current_run})"
            )
        store.mark([row["id"]], status, message)
        marked[int(row["id"])] = status
    return marked
