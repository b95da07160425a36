"""Does this highspy return the plan it reports? A check for a new HiGHS release.

    python scripts/check_highs_mip_start.py

A 7-column MIP of allocator's model (``tests.bruteforce.random_tiny(21)``, exported
with ``allocator solve --write-model``; optimum 285) solved to gap 0 without and with
the ship-nothing plan as MIP start (as allocator starts every MIP). For each run it
prints HiGHS's objective and the objective of the column values ``getSolution``
returns; they must agree. HiGHS 1.15.1 agrees in both runs; HiGHS 1.16.0 reports 285
with the start but returns the start's own values (objective -415): allocator would
write the ship-nothing plan as "optimal". Exit 1 when they disagree.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import highspy

MODEL = """NAME
OBJSENSE
  MAX
ROWS
 N  Obj
 E  stock_balance[p1,1]#0
 E  stock_balance[p2,1]#1
 L  foundry_surplus[1]#2
 L  order_quantity[o1]#3
 L  order_quantity[o2]#4
 L  order_quantity[o3]#5
 G  third_party_deal[tp3,min]#6
 L  third_party_deal[tp3,max]#7
 L  third_party_share[all]#8
COLUMNS
    MARK0000  'MARKER'                 'INTORG'
    ship_racks[o1,1]  Obj       200
    ship_racks[o1,1]  stock_balance[p2,1]#1  1
    ship_racks[o1,1]  order_quantity[o1]#3  1
    ship_racks[o1,1]  third_party_deal[tp3,min]#6  1
    ship_racks[o1,1]  third_party_deal[tp3,max]#7  1
    ship_racks[o1,1]  third_party_share[all]#8  0.25
    ship_racks[o2,1]  Obj       300
    ship_racks[o2,1]  stock_balance[p1,1]#0  1
    ship_racks[o2,1]  order_quantity[o2]#4  1
    ship_racks[o2,1]  third_party_share[all]#8  -0.75
    ship_racks[o3,1]  Obj       500
    ship_racks[o3,1]  stock_balance[p2,1]#1  1
    ship_racks[o3,1]  order_quantity[o3]#5  1
    ship_racks[o3,1]  third_party_deal[tp3,min]#6  1
    ship_racks[o3,1]  third_party_deal[tp3,max]#7  1
    ship_racks[o3,1]  third_party_share[all]#8  0.25
    surplus_racks[p2,1]  Obj       -200
    surplus_racks[p2,1]  stock_balance[p2,1]#1  -1
    surplus_racks[p2,1]  foundry_surplus[1]#2  1
    MARK0001  'MARKER'                 'INTEND'
    stock_racks[p1,1]  Obj       -400
    stock_racks[p1,1]  stock_balance[p1,1]#0  1
    stock_racks[p2,1]  Obj       -5
    stock_racks[p2,1]  stock_balance[p2,1]#1  1
    MARK0002  'MARKER'                 'INTORG'
    is_deal_accepted[tp3]  Obj       -2000
    is_deal_accepted[tp3]  third_party_deal[tp3,min]#6  -1
    is_deal_accepted[tp3]  third_party_deal[tp3,max]#7  -3
    MARK0003  'MARKER'                 'INTEND'
RHS
    RHS_V     stock_balance[p1,1]#0  1
    RHS_V     stock_balance[p2,1]#1  3
    RHS_V     foundry_surplus[1]#2  1.5
    RHS_V     order_quantity[o1]#3  2
    RHS_V     order_quantity[o2]#4  1
    RHS_V     order_quantity[o3]#5  1
BOUNDS
 UI BOUND     ship_racks[o1,1]  2
 BV BOUND     ship_racks[o2,1]
 BV BOUND     ship_racks[o3,1]
 UI BOUND     surplus_racks[p2,1]  2
 BV BOUND     is_deal_accepted[tp3]
ENDATA
"""
START = [0.0, 0.0, 0.0, 0.0, 1.0, 3.0, 0.0]
"""Ship nothing: the stock at the end of period 1 is the supply (1 rack of p1, 3 of p2)."""


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tiny.mps"
        path.write_text(MODEL)
        agree = True
        for with_start in (False, True):
            highs = highspy.Highs()
            highs.setOptionValue("output_flag", False)
            highs.readModel(str(path))
            highs.setOptionValue("mip_rel_gap", 0.0)
            if with_start:
                start = highspy.HighsSolution()
                start.col_value = START
                start.value_valid = True
                highs.setSolution(start)
            highs.run()
            values = list(highs.getSolution().col_value)
            of_values = sum(c * v for c, v in zip(highs.getLp().col_cost_, values, strict=True))
            reported = highs.getInfo().objective_function_value
            same = abs(of_values - reported) <= 1e-6 * max(1.0, abs(reported))
            agree = agree and same
            print(
                f"HiGHS {highs.version()}, {'with' if with_start else 'without'} start: "
                f"objective {reported:g}, its values score {of_values:g}"
                f" {'ok' if same else 'DIFFERENT'}"
            )
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
