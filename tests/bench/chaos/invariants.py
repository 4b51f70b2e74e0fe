"""What must hold after any run, however it was broken: pure checks over the evidence.

``check(evidence)`` returns one ``Verdict`` per invariant: its name, what it means and the
violations (each names an order id or SKU, so a reader can look it up). Each must be empty.

The orders database is the system of record; the Orders are the saga's live view; an Order
may be gone (deleted after it ended), and then its last sighting counts. Hand-made
("forged") Orders have no row in orders: for them, taking nothing is what must hold.

- ``terminal``: every order settled, in orders (Completed, Cancelled) and as an Order
  (Completed, Cancelled: ``Failed`` is a saga that needs a human).
- ``one-payment``: never two payments for one order.
- ``money``: money is kept (a payment ``authorized``) exactly for completed orders, and no
  payment is left ``pending`` once its order settled.
- ``stock-sold``: each SKU's committed stock is what completed orders bought, and a
  reservation is committed exactly for completed orders.
- ``stock-available``: available stock never went below zero (sampled during the run and
  at the end), and no unit was made or lost (available + reserved + committed = stocked).
- ``stock-held``: no stock is still reserved once every saga settled.
- ``phases-agree``: orders and the Order tell the same outcome (phase; the reason too
  when cancelled); a forged Order never completes.
- ``terminating``: no Order kept its deletionTimestamp for more than ``TERMINATING_LIMIT``.
- ``dead-letters``: no dead-lettered event, unless it is about a forged Order.
- ``faults-recovered``: every fault's component came back within the harness's bound.
- ``sagas-resume``: after an operator restart, every saga in flight moved again within
  ``RESUME_LIMIT`` seconds (issue 10's target).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

SETTLED = frozenset({"Completed", "Cancelled"})
TERMINATING_LIMIT = 60.0
RESUME_LIMIT = 10.0


@dataclass(frozen=True)
class OrderRow:
    """An order as the orders database holds it."""

    phase: str
    reason: str
    items: tuple[tuple[str, int], ...]  # (sku, quantity)


@dataclass(frozen=True)
class OrderView:
    """An Order resource as last seen (``gone``: it has been deleted since)."""

    phase: str
    reason: str
    gone: bool = False
    terminating_for: float = 0.0  # seconds its deletionTimestamp was set while it existed


@dataclass(frozen=True)
class StockRow:
    available: int
    reserved: int
    committed: int
    stocked: int  # what the run seeded
    lowest_available: int  # the lowest ``available`` any sample saw


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    order_id: str
    event_type: str
    reason: str
    error: str


@dataclass(frozen=True)
class FaultOutcome:
    name: str  # e.g. "operator @ 34.2s"
    recovered: bool
    resume_worst: float | None = None  # sagas-resume: the slowest saga's seconds, if bounded
    resume_worst_order: str = ""


@dataclass(frozen=True)
class Evidence:
    orders: Mapping[str, OrderRow]
    resources: Mapping[str, OrderView]
    forged: frozenset[str]
    payments: Mapping[str, tuple[str, ...]]  # order id -> each payment's status
    reservations: Mapping[str, str]  # order id -> the reservation's status
    stock: Mapping[str, StockRow]
    dead_letters: Sequence[DeadLetter] = ()
    faults: Sequence[FaultOutcome] = ()


@dataclass(frozen=True)
class Verdict:
    name: str
    meaning: str
    violations: tuple[str, ...] = field(default=())

    @property
    def count(self) -> int:
        return len(self.violations)


def check(evidence: Evidence) -> list[Verdict]:
    return [Verdict(name, meaning, rule(evidence)) for name, meaning, rule in INVARIANTS]


def _ids(evidence: Evidence) -> list[str]:
    return sorted({*evidence.orders, *evidence.resources, *evidence.forged})


def terminal(evidence: Evidence) -> tuple[str, ...]:
    found = []
    for order_id in _ids(evidence):
        row, view = evidence.orders.get(order_id), evidence.resources.get(order_id)
        if row is not None and row.phase not in SETTLED:
            found.append(f"{order_id}: orders says {row.phase}")
        if view is None:
            found.append(f"{order_id}: no Order was ever seen")
        elif view.phase not in SETTLED:
            state = "deleted while" if view.gone else "Order is"
            phase = " ".join(filter(None, (view.phase or "without a phase", view.reason)))
            found.append(f"{order_id}: {state} {phase}")
    return tuple(found)


def one_payment(evidence: Evidence) -> tuple[str, ...]:
    return tuple(
        f"{order_id}: {len(statuses)} payments {list(statuses)}"
        for order_id, statuses in sorted(evidence.payments.items())
        if len(statuses) > 1
    )


def _completed(evidence: Evidence, order_id: str) -> bool:
    row = evidence.orders.get(order_id)
    return row is not None and row.phase == "Completed"


def money(evidence: Evidence) -> tuple[str, ...]:
    found = []
    for order_id in _ids(evidence):
        statuses = evidence.payments.get(order_id, ())
        kept, completed = "authorized" in statuses, _completed(evidence, order_id)
        if kept and not completed:
            found.append(f"{order_id}: money kept for an order that did not complete")
        if completed and not kept:
            found.append(f"{order_id}: completed without money kept {list(statuses)}")
        if "pending" in statuses:
            found.append(f"{order_id}: a payment left pending")
    return tuple(found)


def sold(evidence: Evidence) -> tuple[str, ...]:
    bought: dict[str, int] = defaultdict(int)
    for row in evidence.orders.values():
        if row.phase == "Completed":
            for sku, quantity in row.items:
                bought[sku] += quantity
    found = [
        f"{sku}: {stock.committed} committed, completed orders bought {bought.get(sku, 0)}"
        for sku, stock in sorted(evidence.stock.items())
        if stock.committed != bought.get(sku, 0)
    ]
    for order_id in _ids(evidence):
        committed = evidence.reservations.get(order_id) == "committed"
        if committed and not _completed(evidence, order_id):
            found.append(f"{order_id}: stock sold for an order that did not complete")
        elif _completed(evidence, order_id) and not committed:
            status = evidence.reservations.get(order_id, "missing")
            found.append(f"{order_id}: completed, its reservation is {status}")
    return tuple(found)


def available(evidence: Evidence) -> tuple[str, ...]:
    found = []
    for sku, stock in sorted(evidence.stock.items()):
        lowest = min(stock.lowest_available, stock.available)
        if lowest < 0:
            found.append(f"{sku}: available fell to {lowest}")
        total = stock.available + stock.reserved + stock.committed
        if total != stock.stocked:
            found.append(f"{sku}: {total} units counted, {stock.stocked} stocked")
    return tuple(found)


def held(evidence: Evidence) -> tuple[str, ...]:
    found = [
        f"{sku}: {stock.reserved} units still reserved"
        for sku, stock in sorted(evidence.stock.items())
        if stock.reserved
    ]
    found += [
        f"{order_id}: reservation still holds stock"
        for order_id, status in sorted(evidence.reservations.items())
        if status == "reserved"
    ]
    return tuple(found)


def agree(evidence: Evidence) -> tuple[str, ...]:
    found = []
    for order_id in _ids(evidence):
        row, view = evidence.orders.get(order_id), evidence.resources.get(order_id)
        if view is None:
            continue  # "terminal" names it
        if row is None:
            if view.phase == "Completed":
                found.append(f"{order_id}: an Order orders never heard of completed")
            elif order_id not in evidence.forged:
                found.append(f"{order_id}: an Order orders never heard of ({view.phase})")
            continue
        if view.phase not in SETTLED and row.phase not in SETTLED:
            continue  # both still running: "terminal" names it
        same = row.phase == view.phase and (row.phase != "Cancelled" or row.reason == view.reason)
        if not same:
            found.append(
                f"{order_id}: orders says {row.phase}/{row.reason or '-'}, "
                f"the Order {view.phase or '-'}/{view.reason or '-'}"
            )
    return tuple(found)


def terminating(evidence: Evidence) -> tuple[str, ...]:
    return tuple(
        f"{order_id}: Terminating for {view.terminating_for:.0f}s ({view.phase} {view.reason})"
        for order_id, view in sorted(evidence.resources.items())
        if view.terminating_for > TERMINATING_LIMIT
    )


def dead_letters(evidence: Evidence) -> tuple[str, ...]:
    return tuple(
        f"{letter.order_id}: {letter.event_type} on {letter.topic} ({letter.reason}: "
        f"{letter.error[:160]})"
        for letter in evidence.dead_letters
        if letter.order_id not in evidence.forged
    )


def recovered(evidence: Evidence) -> tuple[str, ...]:
    return tuple(
        f"{fault.name}: did not recover" for fault in evidence.faults if not fault.recovered
    )


def resumed(evidence: Evidence) -> tuple[str, ...]:
    return tuple(
        f"{fault.name}: {fault.resume_worst_order} moved again only {fault.resume_worst:.1f}s"
        " after the restart"
        for fault in evidence.faults
        if fault.resume_worst is not None and fault.resume_worst > RESUME_LIMIT
    )


Rule = Callable[[Evidence], tuple[str, ...]]
INVARIANTS: tuple[tuple[str, str, Rule], ...] = (
    ("terminal", "every order settled, in orders and as an Order", terminal),
    ("one-payment", "one payment per order at most", one_payment),
    ("money", "money kept exactly for completed orders", money),
    ("stock-sold", "committed stock = what completed orders bought", sold),
    ("stock-available", "available stock never negative, none made or lost", available),
    ("stock-held", "no stock reserved once every saga settled", held),
    ("phases-agree", "orders and the Order tell one outcome", agree),
    ("terminating", f"no Order Terminating over {TERMINATING_LIMIT:.0f}s", terminating),
    ("dead-letters", "no dead-lettered event unexplained", dead_letters),
    ("faults-recovered", "every faulted component came back", recovered),
    ("sagas-resume", f"sagas in flight move within {RESUME_LIMIT:.0f}s of a restart", resumed),
)


def by_name(verdicts: Sequence[Verdict]) -> Mapping[str, Verdict]:
    return {verdict.name: verdict for verdict in verdicts}
