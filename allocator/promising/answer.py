"""The answer to "can we promise N racks?": both answers in one record, and its stable JSON object.

`promise_order` takes a re-checked plan (`allocator.promising.plan_folder.PlanInput`) and
the request, and gives a `PromiseAnswer`: the available answer (the plan kept) always,
the capable answer (re-planned) unless asked for the available one alone, which needs
neither Pyomo nor a MIP solve of the whole model and so takes about a second.

`PromiseAnswer.to_json` is the object ``allocator promise --json`` prints; its keys and
their order are fixed (`JSON_KEYS`, tested): the contract's keys first, then the details.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from allocator.data.instance import Instance
from allocator.plan.tables import committed_racks, shipped_by_customer
from allocator.promising.available import Available, available_to_promise
from allocator.promising.plan_folder import PlanInput
from allocator.promising.request import (
    NewOrder,
    PromiseRequest,
    new_order,
    table_row,
    with_order,
)

if TYPE_CHECKING:  # importing the capable answer loads Pyomo; the available one never does
    from allocator.promising.capable import Capable

JSON_KEYS = (
    "available_racks",
    "available_schedule",
    "available_surplus",
    "capable_racks",
    "objective_change",
    "orders_losing",
    "order",
    "available",
    "capable",
    "plan",
    "notes",
)
"""The keys of `PromiseAnswer.to_json`, in order. The first six are the contract's; the
capable ones are null when only the available answer was asked for."""

LIMIT_TEXT = {
    "supply": "stock the plan leaves and surplus it did not buy",
    "region_power": "power of region {region}",
    "third_party_share": "the third-party share cap",
    "minimum_contract": "{customer}'s minimum contract of {min_contract} racks (deal rejected)",
    "ship_window": "{product} cannot ship in the order's window",
}
"""What each limit of `allocator.promising.available.limits` means, for a planner."""


@dataclass(frozen=True)
class CapableOptions:
    """The solve options of the capable answer (those of ``allocator solve``)."""

    time_limit: float | None = None
    mip_gap: float = 1e-4
    threads: int = 1
    strict: bool = False
    log: bool = False


@dataclass(frozen=True)
class PromiseAnswer:
    """Both answers to a promise request (docs/contract.md, "Promising a new order").

    ``available`` is always there; ``capable`` is None when only the available answer was
    asked for. The contract's fields are properties of the same names."""

    order: NewOrder
    plan_source: str
    plan_objective: float
    instance_name: str
    instance_source: str
    content_hash: str
    period_labels: dict[int, str]
    currency: str
    available: Available
    capable: Capable | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def available_racks(self) -> int:
        return self.available.racks

    @property
    def available_schedule(self) -> list[dict[str, int]]:
        return [{"period": t, "racks": racks} for t, racks in self.available.schedule]

    @property
    def available_surplus(self) -> list[dict[str, Any]]:
        return [
            {"product": product, "period": t, "racks": racks}
            for product, t, racks in self.available.surplus
        ]

    @property
    def capable_racks(self) -> int | None:
        return None if self.capable is None else self.capable.racks

    @property
    def objective_change(self) -> float | None:
        return None if self.capable is None else self.capable.objective_change

    @property
    def orders_losing(self) -> list[dict[str, Any]] | None:
        if self.capable is None:
            return None
        return [
            {
                "order": lost.order,
                "racks_before": lost.racks_before,
                "racks_after": lost.racks_after,
            }
            for lost in self.capable.orders_losing
        ]

    def limit_texts(self) -> list[str]:
        """`Available.limits` in words."""
        order = self.order
        return [
            LIMIT_TEXT[name].format(
                region=order.region,
                customer=order.customer,
                product=order.product,
                min_contract=self.available.min_contract,
            )
            for name in self.available.limits
        ]

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``allocator promise --json`` (keys: `JSON_KEYS`)."""
        order = self.order
        available = self.available
        capable = self.capable
        data: dict[str, Any] = {
            "available_racks": self.available_racks,
            "available_schedule": self.available_schedule,
            "available_surplus": self.available_surplus,
            "capable_racks": self.capable_racks,
            "objective_change": self.objective_change,
            "orders_losing": self.orders_losing,
            "order": {
                "order": order.order,
                "customer": order.customer,
                "segment": order.segment,
                "region": order.region,
                "product": order.product,
                "racks": order.racks,
                "period": order.period,
                "max_delay": order.max_delay,
                "first_ship_period": order.first_ship,
                "last_ship_period": order.last_ship,
                "price_per_rack": order.price_per_rack,
                "price_source": order.price_source,
                "delay_penalty": order.delay_penalty,
                "margin_per_rack": order.margin_per_rack,
            },
            "available": {
                "limits": list(available.limits),
                "deal_started": available.deal_started,
                "objective_change": available.objective_change,
                "seconds": round(available.seconds, 6),
            },
            "capable": None,
            "plan": {
                "source": self.plan_source,
                "objective": self.plan_objective,
                "instance": {
                    "name": self.instance_name,
                    "source": self.instance_source,
                    "content_hash": self.content_hash,
                },
            },
            "notes": list(self.notes),
        }
        if capable is not None:
            data["capable"] = {
                "schedule": [{"period": t, "racks": racks} for t, racks in capable.schedule],
                "objective": capable.objective,
                "racks_gained_by_other_orders": capable.racks_gained,
                "tier": capable.tier,
                "held_by_tiers": [
                    {"tier": tier, "racks": racks} for tier, racks in capable.held_by_tiers
                ],
                "plan_source": capable.plan_source,
                "status": capable.status,
                "mip_gap": capable.mip_gap,
                "seconds": round(capable.seconds, 6),
            }
        return data


def _commitment_note(
    instance: Instance, plan: PlanInput, order: NewOrder, available: Available
) -> str | None:
    """For an internal customer whom the order leaves shorter of its committed fill when
    only the available racks ship: by how much, and that objective_change counts it."""
    if order.segment != "internal":
        return None
    min_fill = float(table_row(instance.customers, "customer", order.customer)["min_fill"])
    committed = float(committed_racks(instance).get(order.customer, 0.0))
    shipped = float(shipped_by_customer(instance, plan.plan).get(order.customer, 0.0))
    short_before = max(0.0, committed - shipped)
    raised = committed + min_fill * order.racks
    short_after = max(0.0, raised - shipped - available.racks)
    if short_after <= short_before + 1e-9:
        return None
    penalty = instance.policy.internal_shortfall_penalty
    return (
        f"as an order of {order.customer} (min_fill {min_fill:g}) it raises the racks "
        f"committed to it from {committed:,.2f} to {raised:,.2f}: with the available racks "
        f"alone it falls {short_after - short_before:,.2f} racks further short, at "
        f"{penalty:,.0f} a rack in the available objective_change (the re-plan weighs it too)"
    )


def _window_note(instance: Instance, order: NewOrder) -> str | None:
    if order.first_ship <= order.last_ship:
        return None
    labels = instance.period_labels
    first = labels.get(order.first_ship, f"period {order.first_ship}")
    return (
        f"{order.product} ships only from {first}, after the order's window "
        f"({labels[order.period]}..{labels[order.last_ship]}): nothing can ship in it"
    )


def promise_order(
    plan: PlanInput,
    request: PromiseRequest,
    *,
    options: CapableOptions | None = None,
    capable: bool = True,
) -> PromiseAnswer:
    """Both answers for ``request`` against the re-checked ``plan``; ``capable`` False
    answers available to promise alone. Raises `allocator.errors.PromiseInputError` for a
    request the instance cannot take, `allocator.errors.InfeasibleError` when the capable
    model is infeasible (strict mode) and `allocator.errors.NoPlanError` when its solve
    stops without a plan."""
    options = options or CapableOptions()
    instance = plan.instance
    order = new_order(instance, request)
    augmented = with_order(instance, order)
    available = available_to_promise(
        instance, augmented, plan.plan, plan.objective, order, options.threads
    )
    notes = [
        *plan.notes,
        *(
            note
            for note in (
                _window_note(instance, order),
                _commitment_note(instance, plan, order, available),
            )
            if note
        ),
    ]
    answer_capable = None
    if capable:
        from allocator.promising.capable import capable_to_promise
        from allocator.solver.highs import SolverOptions
        from allocator.solver.pipeline import RunOptions

        run = RunOptions(
            SolverOptions(
                time_limit=options.time_limit,
                mip_gap=options.mip_gap,
                threads=options.threads,
                log=options.log,
            ),
            strict=options.strict,
        )
        answer_capable = capable_to_promise(
            augmented, plan.plan, plan.objective, order, run, kept=available.plan
        )
        if answer_capable.plan_source != "re-solved":
            notes.append(
                f"the re-solve ({answer_capable.status}) found no plan better than keeping the "
                "plan and adding the available schedule, so that is the capable answer"
            )
        gap = answer_capable.mip_gap
        if gap is not None and gap > 0:
            slack = gap * abs(answer_capable.objective)
            notes.append(
                f"the re-planned objective may be up to {slack:,.0f} {instance.settings.currency} "
                f"below the optimum (gap {gap:.2g}; --mip-gap 0 proves it), and objective_change "
                "with it"
            )
    return PromiseAnswer(
        order=order,
        plan_source=plan.source,
        plan_objective=plan.objective,
        instance_name=instance.name,
        instance_source=instance.source,
        content_hash=instance.content_hash,
        period_labels=instance.period_labels,
        currency=instance.settings.currency,
        available=available,
        capable=answer_capable,
        notes=tuple(notes),
    )
