"""What-if sweeps (``allocator whatif``): many variants of one instance, solved independently.

In the order a sweep goes: `spec` (what it asks for), `scenarios` (the variants and their
solve), `executors` (in this process or on Dask), `metrics` (the rows of ``sweep.csv`` and
``policy_cost.csv``), `folder` (the sweep folder on disk), `run` (`run_whatif`), `console`
(the terminal summary).
"""
