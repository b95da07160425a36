"""Memory during a solve: the garbage collector paused while Pyomo builds, run beside HiGHS.

A build allocates millions of objects that all stay alive, so the collector is paused;
a large dropped Pyomo model is collected in a thread of its own while HiGHS works.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def gc_paused(*, stay_paused: bool = False) -> Iterator[None]:
    """Pause Python's cyclic garbage collector while Pyomo allocates millions of
    objects that all stay alive: a 104k-variable build took 0.8-0.9 s instead of
    2.4-2.9 s (generated instance, median of 2 each way). ``stay_paused``: not enabled
    again at the end, for a process that ends there (re-enabled, the collector's first
    run would walk everything still alive for nothing: 0.2 s after a 79,681-column
    ``solve --relax``)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled and not stay_paused:
            gc.enable()


FREE_FROM_COLUMNS = 150_000
"""A dropped model of at least this many columns is collected while HiGHS runs
(`collecting_garbage`); a smaller one is left to the collector's own schedule after the
solve (or to the end of the process). The collection beside HiGHS is not free on a
2-vCPU machine: it walks the whole model while HiGHS works on the other vCPU, and on the
79,681-column LP (`benchmarks/run.py --sizes ML --modes relax`) HiGHS took 5.54-5.70 s
with it and 5.17-5.32 s without (3 whole `allocator solve --relax` runs each), for a
peak of 265 MB instead of 336 MB. At 197k columns (L) HiGHS took 16.85 s inside
allocator against 16.93 s alone (benchmarks/README.md, latest table), while freeing the
model there lowers the peak by hundreds of MB."""


def worth_freeing(columns: int) -> bool:
    """Whether a dropped model of ``columns`` columns is collected beside HiGHS."""
    return columns >= FREE_FROM_COLUMNS


@contextlib.contextmanager
def collecting_garbage(collect: bool) -> Iterator[Callable[[], None] | None]:
    """With ``collect``, a full garbage collection in a second thread once the function
    yielded is called, which `solve_compiled` does just before HiGHS runs. A dropped Pyomo
    model is freed only by the cycle collector (3.5M objects at 197k columns: 0.6-0.75
    s). The collector holds the GIL throughout, so it must start when HiGHS has released
    it (highspy's ``run()`` does): started any earlier, it kept the main thread waiting
    (0.75 s inside ``Thread.start`` at 197k columns, py-spy). Then it takes no time from
    the solve, and the memory is back before HiGHS's own peak."""
    if not collect:
        yield None
        return
    go = threading.Event()

    def collect_when_told() -> None:
        go.wait()
        gc.collect()

    thread = threading.Thread(target=collect_when_told, name="collect-model", daemon=True)
    thread.start()
    try:
        yield go.set
    finally:
        go.set()
        thread.join()
