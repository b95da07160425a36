"""Failpoints: named places where a test can have the process killed (SIGKILL).

A test proves that a kill at that moment loses nothing (as etcd's and TiKV's failpoints
do).

``ALLOCATOR_FAILPOINT=NAME`` in the environment makes `failpoint` (NAME) end the process
with SIGKILL, exactly as ``kill -9`` at that moment would. Unset (always, outside tests)
a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENVIRONMENT_VARIABLE = "ALLOCATOR_FAILPOINT"


def failpoint(name: str) -> None:
    """SIGKILL this process if the environment names this failpoint."""
    if os.environ.get(ENVIRONMENT_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
