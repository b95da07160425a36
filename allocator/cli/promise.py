"""``allocator promise``: can a new order be promised against a plan (`allocator.promising`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from allocator.cli.app import app, skip_teardown
from allocator.cli.options import (
    MipGapOption,
    StrictOption,
    ThreadsOption,
    TimeLimitOption,
    fail,
    load,
)
from allocator.data.schema import MAX_PERIODS, MAX_RACKS
from allocator.errors import ExitCode


@app.command()
def promise(
    plan_dir: Annotated[
        Path,
        typer.Argument(
            metavar="PLAN_DIR",
            help="A plan: the folder of `allocator solve --out` or a nightly published folder.",
        ),
    ],
    customer: Annotated[str, typer.Option(help="An existing customer of the instance.")],
    product: Annotated[str, typer.Option(help="The product asked for (no substitutes).")],
    racks: Annotated[int, typer.Option(help="Racks asked for.", min=1, max=MAX_RACKS)],
    period: Annotated[int, typer.Option(help="Requested delivery period (1..periods).")],
    max_delay: Annotated[
        int, typer.Option(help="Periods the order may ship late.", min=0, max=MAX_PERIODS)
    ] = 0,
    price: Annotated[
        float | None,
        typer.Option(help="Value per rack (default: the customer's highest price for it)."),
    ] = None,
    delay_penalty: Annotated[
        float, typer.Option(help="Cost per rack per period late.", min=0)
    ] = 0.0,
    instance_path: Annotated[
        Path | None,
        typer.Option(
            "--instance",
            help="The plan's instance (default: the one its summary.json records).",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of tables.")
    ] = False,
    available_only: Annotated[
        bool,
        typer.Option(
            "--available-only",
            help="Answer available to promise alone (about a second): no re-planning.",
        ),
    ] = False,
    time_limit: TimeLimitOption = None,
    mip_gap: MipGapOption = 1e-4,
    threads: ThreadsOption = 1,
    strict: StrictOption = False,
    log: Annotated[bool, typer.Option("--log", help="Show HiGHS's log.")] = False,
) -> None:
    """Racks of a new order that can be promised: with the plan kept, and re-planned.

    Available to promise: from the stock and surplus the plan leaves, every shipment of
    the plan kept. Capable to promise: the whole plan solved again with the order. Nothing
    in PLAN_DIR is changed."""
    from allocator.errors import InfeasibleError, NoPlanError, PromiseInputError
    from allocator.promising.answer import CapableOptions, promise_order
    from allocator.promising.plan_folder import instance_path as recorded_instance
    from allocator.promising.plan_folder import plan_input, read_plan_folder
    from allocator.promising.request import PromiseRequest

    request = PromiseRequest(customer, product, racks, period, max_delay, price, delay_penalty)
    options = CapableOptions(time_limit, mip_gap, threads, strict, log)
    try:
        folder = read_plan_folder(plan_dir)
        instance = load(recorded_instance(folder, instance_path))
        plan = plan_input(folder, instance)
        answer = promise_order(plan, request, options=options, capable=not available_only)
    except PromiseInputError as error:
        raise fail(str(error), ExitCode.INVALID) from None
    except InfeasibleError as error:
        raise fail(f"capable to promise: {error}", ExitCode.INFEASIBLE) from None
    except NoPlanError as error:
        raise fail(f"capable to promise: {error}", ExitCode.ERROR) from None
    if json_output:
        typer.echo(json.dumps(answer.to_json(), indent=2))
    else:
        from allocator.promising.console import print_answer

        print_answer(answer)
    skip_teardown()  # the answer is printed: no need to free a re-solved model object by object
