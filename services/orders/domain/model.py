"""The Order aggregate: its lines and total, its phase, and the timeline of its saga.

The service layer creates orders with ``Order.place`` and changes them only through
``record`` (a fact another service reported), ``complete`` and ``cancel`` (the saga operator's
commands). The rules:

- The phase only moves forward: Pending → StockReserved → PaymentAuthorized, from the
  ``StockReserved`` and ``PaymentAuthorized`` facts (in whichever order they arrive: they come
  from different topics). Every other fact is history, not progress: the operator decides what
  a rejection or a refund means and tells us with a command.
- Completed and Cancelled are final: only the commands reach them, and nothing leaves them.
  A fact arriving later is still written to the timeline, with the phase unchanged.
- A repeated command is a no-op (the operator retries); the opposite command is a conflict.
- A fact is recorded once per event id, so a redelivered event adds nothing.

New domain events are appended to ``events``; the service layer publishes them.
"""

from __future__ import annotations

import enum
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.orders.domain import errors, events, facts, money
from services.orders.domain.catalog import ProductQuote

MAX_CUSTOMER_ID = 128
MAX_PAYMENT_METHOD = 255
MAX_REASON = 500


class Phase(enum.StrEnum):
    PENDING = "Pending"
    STOCK_RESERVED = "StockReserved"
    PAYMENT_AUTHORIZED = "PaymentAuthorized"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"

    @property
    def final(self) -> bool:
        return self in (Phase.COMPLETED, Phase.CANCELLED)


# How far a live order has got; facts only ever move it to a higher rank.
_PROGRESS = {Phase.PENDING: 0, Phase.STOCK_RESERVED: 1, Phase.PAYMENT_AUTHORIZED: 2}


class Step(enum.StrEnum):
    """Timeline entry kinds, in the words an API reader sees."""

    CREATED = "created"
    STOCK_RESERVED = "stock_reserved"
    STOCK_REJECTED = "stock_rejected"
    STOCK_RELEASED = "stock_released"
    STOCK_EXPIRED = "stock_expired"
    STOCK_COMMITTED = "stock_committed"
    PAYMENT_AUTHORIZED = "payment_authorized"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_REFUNDED = "payment_refunded"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# Each fact's timeline step, and the phase it advances a live order to (None: history only).
FACT_EFFECTS: dict[type[facts.Fact], tuple[Step, Phase | None]] = {
    facts.StockReserved: (Step.STOCK_RESERVED, Phase.STOCK_RESERVED),
    facts.StockRejected: (Step.STOCK_REJECTED, None),
    facts.StockReleased: (Step.STOCK_RELEASED, None),
    facts.StockExpired: (Step.STOCK_EXPIRED, None),
    facts.StockCommitted: (Step.STOCK_COMMITTED, None),
    facts.PaymentAuthorized: (Step.PAYMENT_AUTHORIZED, Phase.PAYMENT_AUTHORIZED),
    facts.PaymentFailed: (Step.PAYMENT_FAILED, None),
    facts.PaymentRefunded: (Step.PAYMENT_REFUNDED, None),
}


@dataclass(frozen=True)
class RequestedItem:
    sku: str
    quantity: int


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    unit_price: int  # minor units, from the catalog when the order was placed


@dataclass(frozen=True)
class TimelineEntry:
    step: Step
    at: datetime
    phase: Phase  # the order's phase once the entry was applied
    reason: str = ""
    rejected: tuple[facts.RejectedLine, ...] = ()
    event_id: uuid.UUID | None = None  # the event a fact came from


def _by_sku(line: Line) -> str:
    return line.sku


def check_items(items: Sequence[RequestedItem]) -> None:
    """The request's own rules, checked before asking the catalog anything."""
    problems = []
    if not 1 <= len(items) <= money.MAX_LINES:
        problems.append(f"an order has 1 to {money.MAX_LINES} lines, not {len(items)}")
    for item in items:
        if not 1 <= item.quantity <= money.MAX_QUANTITY:
            problems.append(
                f"quantity of {item.sku!r} must be 1 to {money.MAX_QUANTITY}, not {item.quantity}"
            )
    # Rejected rather than merged: the stored lines are then exactly the request's lines, and
    # a client that lists a SKU twice has a bug worth hearing about.
    repeated = sorted(sku for sku, count in Counter(i.sku for i in items).items() if count > 1)
    problems.extend(f"SKU {sku!r} appears on more than one line" for sku in repeated)
    if problems:
        raise errors.OrderRejected(problems)


def price_items(
    items: Sequence[RequestedItem], quotes: Mapping[str, ProductQuote], currency: str
) -> tuple[Line, ...]:
    """The order lines at the catalog's prices; unknown SKUs and foreign currencies refused."""
    unknown = [item.sku for item in items if item.sku not in quotes]
    if unknown:
        raise errors.UnknownSkus(unknown)
    mismatched = {
        item.sku: quotes[item.sku].currency
        for item in items
        if quotes[item.sku].currency != currency
    }
    if mismatched:
        raise errors.CurrencyMismatch(currency, mismatched)
    return tuple(Line(item.sku, item.quantity, quotes[item.sku].unit_price) for item in items)


def total(lines: Sequence[Line]) -> int:
    """Sum of quantity * unit price in minor units; an out-of-range total is the client's fault."""
    try:
        return money.order_total((line.quantity, line.unit_price) for line in lines)
    except money.AmountOutOfRange as e:
        if e.total is None:
            raise errors.OrderRejected([str(e)]) from e
        raise errors.AmountOutOfRange(e.total, money.MIN_AMOUNT, money.MAX_AMOUNT) from e


@dataclass(frozen=True)
class Terms:
    """What a saga would take and charge for an order: checked against the order placed."""

    customer_id: str
    lines: tuple[Line, ...]
    currency: str
    amount: int
    payment_method: str


@dataclass(eq=False)
class Order:
    id: uuid.UUID
    customer_id: str
    lines: tuple[Line, ...]
    currency: str
    payment_method: str
    created_at: datetime
    updated_at: datetime
    phase: Phase = Phase.PENDING
    reason: str = ""  # why it was cancelled
    timeline: list[TimelineEntry] = field(default_factory=list)
    events: list[events.OrderEvent] = field(default_factory=list, repr=False)

    @classmethod
    def place(
        cls,
        *,
        order_id: uuid.UUID,
        customer_id: str,
        lines: Sequence[Line],
        currency: str,
        payment_method: str,
        now: datetime,
    ) -> Order:
        problems = []
        if (
            not 1 <= len(customer_id) <= MAX_CUSTOMER_ID
            or "\x00" in customer_id
            or not customer_id.strip()
        ):
            problems.append(
                f"customerId must be 1 to {MAX_CUSTOMER_ID} characters, not blank, no NUL"
            )
        if (
            not 1 <= len(payment_method) <= MAX_PAYMENT_METHOD
            or "\x00" in payment_method
            or any(c.isspace() for c in payment_method)
        ):
            problems.append(
                f"paymentMethod must be one word of 1 to {MAX_PAYMENT_METHOD} characters, no NUL"
            )
        if not (len(currency) == 3 and currency.isascii() and currency.isupper()):
            problems.append(f"currency must be three capital letters, not {currency!r}")
        if problems:
            raise errors.OrderRejected(problems)
        check_items([RequestedItem(line.sku, line.quantity) for line in lines])
        total(lines)  # an absurd total is refused before the order exists
        order = cls(
            id=order_id,
            customer_id=customer_id,
            lines=tuple(lines),
            currency=currency,
            payment_method=payment_method,
            created_at=now,
            updated_at=now,
        )
        order.timeline.append(TimelineEntry(Step.CREATED, now, Phase.PENDING))
        order.events.append(events.OrderPlaced(order_id))
        return order

    @property
    def amount(self) -> int:
        # Not ``total()``: a stored order is shown as it is, even one placed before the money
        # range was this narrow; the range is enforced once, by ``place``.
        return sum(line.quantity * line.unit_price for line in self.lines)

    def differences(self, terms: Terms) -> list[str]:
        """How ``terms`` differ from this order's, one line per field; empty when they agree."""
        found = []
        if terms.customer_id != self.customer_id:
            found.append(
                f"customerId is {terms.customer_id!r}, the order's is {self.customer_id!r}"
            )
        if sorted(terms.lines, key=_by_sku) != sorted(self.lines, key=_by_sku):
            found.append("items differ from the order's lines (sku, quantity, unitPrice)")
        if (terms.amount, terms.currency) != (self.amount, self.currency):
            found.append(
                f"amount is {terms.amount} {terms.currency}, the order's is "
                f"{self.amount} {self.currency}"
            )
        if terms.payment_method != self.payment_method:
            found.append("paymentMethod differs from the order's")
        return found

    def record(self, fact: facts.Fact) -> TimelineEntry | None:
        """Add ``fact`` to the timeline (moving the phase if it is progress); None if known."""
        if any(entry.event_id == fact.event_id for entry in self.timeline):
            return None
        step, target = FACT_EFFECTS[type(fact)]
        if target is not None and _advances(self.phase, target):
            self.phase = target
        entry = TimelineEntry(
            step,
            fact.occurred_at,
            self.phase,
            reason=_reason(fact),
            rejected=fact.lines if isinstance(fact, facts.StockRejected) else (),
            event_id=fact.event_id,
        )
        self.timeline.append(entry)
        self.updated_at = max(self.updated_at, fact.occurred_at)
        return entry

    def complete(self, *, now: datetime) -> bool:
        """Finish the order; False if it already was (nothing changes then)."""
        if self.phase is Phase.COMPLETED:
            return False
        if self.phase is Phase.CANCELLED:
            raise errors.OrderConflict(self.id, "completed", self.phase)
        self._finish(Phase.COMPLETED, Step.COMPLETED, now)
        self.events.append(events.OrderCompleted(self.id))
        return True

    def cancel(self, *, reason: str, now: datetime) -> bool:
        """Cancel the order for ``reason``; False if it already was (the first reason stays)."""
        if not reason.strip() or len(reason) > MAX_REASON or "\x00" in reason:
            raise errors.OrderRejected(
                [f"a cancellation reason has 1 to {MAX_REASON} characters, no NUL"]
            )
        if self.phase is Phase.CANCELLED:
            return False
        if self.phase is Phase.COMPLETED:
            raise errors.OrderConflict(self.id, "cancelled", self.phase)
        self.reason = reason
        self._finish(Phase.CANCELLED, Step.CANCELLED, now, reason=reason)
        self.events.append(events.OrderCancelled(self.id, reason))
        return True

    def _finish(self, phase: Phase, step: Step, now: datetime, *, reason: str = "") -> None:
        self.phase = phase
        self.updated_at = max(self.updated_at, now)
        self.timeline.append(TimelineEntry(step, now, phase, reason=reason))


def _advances(phase: Phase, target: Phase) -> bool:
    return not phase.final and _PROGRESS[target] > _PROGRESS[phase]


def _reason(fact: facts.Fact) -> str:
    match fact:
        case facts.StockRejected(lines=lines):
            return ", ".join(f"{line.sku}: {line.reason}" for line in lines)
        case facts.StockReleased(reason=reason):
            return reason
        case facts.PaymentFailed(reason=reason, message=message, decline_code=code):
            detail = f"{reason} ({code})" if code else reason
            return f"{detail}: {message}" if message else detail
        case _:
            return ""
