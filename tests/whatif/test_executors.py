"""The Dask path: a real local cluster and a real scheduler started here give the rows a
serial sweep gives, solved in the worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from allocator.data.validate import load_instance
from allocator.whatif.run import run_whatif
from allocator.whatif.spec import SweepSpec, Vary
from tests.whatif.helpers import EXACT, SHARE, cli, sweep_of

DASK_SPEC = SweepSpec((0.0, 1.0, 2.0), (Vary(SHARE, (0.2,)),))


@pytest.fixture(scope="module")
def serial_rows(small: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("serial") / "sweep"
    run_whatif(load_instance(small), "instance", out, DASK_SPEC, EXACT)
    return sweep_of(out)


def same_rows(out: Path, serial: pd.DataFrame) -> None:
    table = sweep_of(out)
    assert list(table.index) == list(serial.index)
    assert table["status"].eq("optimal").all()
    pd.testing.assert_series_equal(table["objective"], serial["objective"])
    pd.testing.assert_series_equal(table["hash"], serial["hash"])


def test_local_cluster_matches_serial(tmp_path: Path, small: Path, serial_rows: pd.DataFrame):
    out = tmp_path / "sweep"
    first = SweepSpec((0.0,), DASK_SPEC.varies)
    run_whatif(load_instance(small), "instance", out, first, EXACT)
    report = run_whatif(load_instance(small), "instance", out, DASK_SPEC, EXACT, workers=2)
    assert (report.solved, report.skipped) == (2, 1)
    same_rows(out, serial_rows)
    workers = sweep_of(out)["worker"].str.split(":").str[-1].astype(int)
    assert workers.iloc[0] == os.getpid()  # the first run, in this process
    assert os.getpid() not in set(workers.iloc[1:])  # the rest in worker processes


@pytest.fixture
def dask_scheduler(tmp_path: Path) -> Any:
    """A real scheduler and one worker (two threads: the solve lock is exercised) as
    separate processes on 127.0.0.1, on a free port."""
    scheduler_file = tmp_path / "scheduler.json"
    common = ["--no-dashboard"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--scheduler-file", str(scheduler_file), *common],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", "--scheduler-file", str(scheduler_file),
                 "--nthreads", "2", "--nworkers", "1", "--no-nanny", *common],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        address = json.loads(scheduler_file.read_text(encoding="utf-8"))["address"]
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
        yield address, processes[1].pid
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in reversed(processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_scheduler_path_matches_serial(
    tmp_path: Path, small: Path, serial_rows: pd.DataFrame, dask_scheduler: tuple[str, int]
) -> None:
    address, worker_pid = dask_scheduler
    assert address.startswith("tcp://127.0.0.1:")
    out = tmp_path / "sweep"
    result = cli(
        "whatif", small, "--out", out, "--surplus-scale", "0,1,2", "--mip-gap", "0",
        "--vary", "policy.third_party_max_share=0.2", "--scheduler", address, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    same_rows(out, serial_rows)
    scenario = out / "scenarios" / "surplus-x2__policy.third_party_max_share-0.2"
    assert os.path.isfile(scenario / "allocation.csv")
    workers = sweep_of(out)["worker"].str.split(":").str[-1].astype(int)
    assert (workers == worker_pid).all()  # solved by the worker process, not here
