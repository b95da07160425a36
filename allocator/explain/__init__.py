"""Why a customer is short: the ``why_short`` column of ``customers.csv``, from tables only.

In the order an explanation goes: `facts` (what the checks share, gathered once per plan
as arrays), `reasons` (which reasons hold for a short customer, each with its text and
number), `why` (`why_short` and `why_short_column`; its docstring lists the reasons).
"""
