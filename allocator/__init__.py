"""allocator: order allocation for constrained AI-chip supply (a Pyomo MIP solved by HiGHS).

The Python API (`allocator.api`): ``allocator.load_instance(path)``,
``allocator.solve(instance, ...)`` returning a `allocator.api.Result`,
``allocator.promise(result_or_folder, ...)`` returning a
`allocator.promising.answer.PromiseAnswer`, and the errors ``allocator.InstanceError``,
``allocator.InfeasibleError`` and ``allocator.PromiseInputError``. They are imported on first
use, so that ``import allocator`` (and ``allocator --help``) stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from allocator.api import Result, load_instance, promise, solve
    from allocator.errors import InfeasibleError, InstanceError, PromiseInputError
    from allocator.promising.answer import PromiseAnswer

_API = {
    "load_instance": "allocator.api",
    "solve": "allocator.api",
    "Result": "allocator.api",
    "promise": "allocator.api",
    "PromiseAnswer": "allocator.promising.answer",
    "InstanceError": "allocator.errors",
    "InfeasibleError": "allocator.errors",
    "PromiseInputError": "allocator.errors",
}

__all__ = [
    "InfeasibleError",
    "InstanceError",
    "PromiseAnswer",
    "PromiseInputError",
    "Result",
    "__version__",
    "load_instance",
    "promise",
    "solve",
]


def __getattr__(name: str) -> Any:
    """The API's names, imported when first asked for (PEP 562)."""
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'allocator' has no attribute {name!r}")
