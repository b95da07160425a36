"""allocator: order allocation for constrained AI-chip supply (Pyomo MIP solved by HiGHS)."""

from __future__ import annotations

__version__ = "0.1.0"
