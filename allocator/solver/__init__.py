"""Solving: the model compiled to arrays, HiGHS, the pipeline, in-place re-solves."""
