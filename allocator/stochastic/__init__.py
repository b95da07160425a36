"""Two-stage plans (``allocator stochastic``): foundry surplus committed before demand is known.

In the order a run goes: `scenario_file` (``scenarios.csv`` read and checked, the mean
scenario), `jobs` (the solves: the extensive form, each scenario alone, the EEV), `folder`
(the folder on disk, done-markers), `run` (`run_stochastic`), `figures` (RP, WS, EEV, VSS,
EVPI and the words a planner reads), `generate` (``allocator scenarios``), `console`.
"""
