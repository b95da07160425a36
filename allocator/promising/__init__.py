"""Promising a new order (``allocator promise``): available and capable to promise.

The package is ``promising``, not ``promise``, so that ``allocator.promise`` stays the
Python API's function (`allocator.api.promise`): importing a subpackage named ``promise``
would replace that attribute of ``allocator`` with the package.

In the order an answer goes: `request` (the new order, its defaults, the instance with it
added), `plan_folder` (the plan read back from its folder and re-checked), `available`
(the most racks with every shipment of the plan kept, `allocator.solver.promise_lp`),
`capable` (the whole model solved again with the order), `answer` (`promise_order` and
the `PromiseAnswer` record), `console` (the terminal table).
"""
