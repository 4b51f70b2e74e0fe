"""The Reservation aggregate: one per order, the stock it holds and the life it goes through.

    (none) ──place──▶ reserved ──commit──▶ committed
       │       │          ├──release──▶ released
       │       │          └──expire───▶ expired      (its TTL passed; the sweeper, or the next
       │       └──▶ rejected (nothing held)           request that touches it, expires it)
       └──release──▶ released (a tombstone: the saga compensated before its reserve landed)

The rules, for a saga operator that retries everything:
- ``place`` is all or nothing (``rules.decide``); a rejection is stored too, so a repeat gets
  the same answer and no second event.
- A repeated request is a no-op answered with the stored state: ``repeat`` for reserve (the
  same lines, or ``ReservationMismatch``), and ``commit``/``release`` return False.
- Refusals never change anything: reserve or commit after released/expired (and commit after a
  rejection) is ``ReservationClosed``; release after commit is ``ReservationCommitted``;
  releasing a rejected or expired reservation is a no-op (nothing is held).
- Time is passed in: a reservation whose ``expires_at`` has passed cannot be committed, even
  before the sweeper got to it; the service layer ``expire``s it first.

Each change appends its domain event to ``events``; the service layer publishes them.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.inventory.domain import errors, events, rules
from services.inventory.domain.stock import Product

MAX_REASON = 500


class Status(enum.StrEnum):
    RESERVED = "reserved"
    REJECTED = "rejected"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(eq=False)
class Reservation:
    order_id: uuid.UUID
    reservation_id: uuid.UUID
    status: Status
    lines: tuple[rules.Line, ...]  # sorted by SKU; the request's lines, also when rejected
    created_at: datetime
    updated_at: datetime
    correlation_id: str  # the saga's, so events the sweeper raises later join its trace
    expires_at: datetime | None = None  # None unless it ever held stock
    shortages: tuple[rules.Shortage, ...] = ()
    reason: str = ""  # why it was released
    events: list[events.InventoryEvent] = field(default_factory=list, repr=False)

    @classmethod
    def place(
        cls,
        *,
        order_id: uuid.UUID,
        reservation_id: uuid.UUID,
        lines: Sequence[rules.Line],
        products: Mapping[str, Product],
        now: datetime,
        ttl: timedelta,
        correlation_id: str,
    ) -> Reservation:
        """Reserve every line from ``products`` (locked by the caller), or none of them."""
        ordered = rules.check_lines(lines)
        shortages = rules.decide(ordered, {sku: p.available for sku, p in products.items()})
        reservation = cls(
            order_id=order_id,
            reservation_id=reservation_id,
            status=Status.REJECTED if shortages else Status.RESERVED,
            lines=ordered,
            created_at=now,
            updated_at=now,
            correlation_id=correlation_id,
            expires_at=None if shortages else now + ttl,
            shortages=shortages,
        )
        if shortages:
            reservation.events.append(events.Rejected(order_id, shortages))
            return reservation
        low = []
        for line in ordered:
            product = products[line.sku]
            if product.hold(line.quantity):
                low.append(
                    events.LowStock(
                        order_id, product.sku, product.available, product.low_stock_threshold
                    )
                )
        assert reservation.expires_at is not None
        reservation.events.append(
            events.Reserved(order_id, reservation_id, ordered, reservation.expires_at)
        )
        reservation.events.extend(low)
        return reservation

    @classmethod
    def tombstone(
        cls,
        *,
        order_id: uuid.UUID,
        reservation_id: uuid.UUID,
        reason: str,
        now: datetime,
        correlation_id: str,
    ) -> Reservation:
        """A release that came first: nothing is held, and a later reserve is refused."""
        _check_reason(reason)
        reservation = cls(
            order_id=order_id,
            reservation_id=reservation_id,
            status=Status.RELEASED,
            lines=(),
            created_at=now,
            updated_at=now,
            correlation_id=correlation_id,
            reason=reason,
        )
        reservation.events.append(events.Released(order_id, reservation_id, reason))
        return reservation

    @property
    def skus(self) -> list[str]:
        return [line.sku for line in self.lines]

    def due(self, now: datetime) -> bool:
        """Still holding stock past its expiry time."""
        expires_at = self.expires_at
        return self.status is Status.RESERVED and expires_at is not None and expires_at <= now

    def repeat(self, lines: Sequence[rules.Line]) -> None:
        """Accept a repeated reserve (the stored state is the answer), or refuse it."""
        if self.status in (Status.RELEASED, Status.EXPIRED):
            raise errors.ReservationClosed(self.order_id, self.status)
        if rules.check_lines(lines) != self.lines:
            raise errors.ReservationMismatch(self.order_id)
        if self.status is Status.REJECTED:
            raise errors.OutOfStock(self.order_id, self.shortages)

    def commit(self, products: Mapping[str, Product], now: datetime) -> bool:
        """Sell the held stock; False if it already was."""
        if self.status is Status.COMMITTED:
            return False
        if self.status is not Status.RESERVED:
            raise errors.ReservationClosed(self.order_id, self.status)
        if self.due(now):
            raise errors.ReservationClosed(self.order_id, Status.EXPIRED)
        for line in self.lines:
            products[line.sku].sell(line.quantity)
        self._move(Status.COMMITTED, now)
        self.events.append(events.Committed(self.order_id, self.reservation_id))
        return True

    def release(self, products: Mapping[str, Product], reason: str, now: datetime) -> bool:
        """Give the held stock back; False if nothing is held (released, expired or rejected)."""
        _check_reason(reason)
        if self.status is Status.COMMITTED:
            raise errors.ReservationCommitted(self.order_id)
        if self.status is not Status.RESERVED:
            return False
        self._give_back(products)
        self.reason = reason
        self._move(Status.RELEASED, now)
        self.events.append(events.Released(self.order_id, self.reservation_id, reason))
        return True

    def expire(self, products: Mapping[str, Product], now: datetime) -> bool:
        """Give the stock back if the reservation is ``due``; False otherwise."""
        if not self.due(now):
            return False
        self._give_back(products)
        self._move(Status.EXPIRED, now)
        self.events.append(events.Expired(self.order_id, self.reservation_id))
        return True

    def _give_back(self, products: Mapping[str, Product]) -> None:
        for line in self.lines:
            products[line.sku].unhold(line.quantity)

    def _move(self, status: Status, now: datetime) -> None:
        self.status = status
        self.updated_at = max(self.updated_at, now)


def _check_reason(reason: str) -> None:
    problems = []
    if len(reason) > MAX_REASON:
        problems.append(f"a release reason has at most {MAX_REASON} characters")
    if "\x00" in reason:  # text that no database column (or log line) can hold
        problems.append("a release reason cannot contain NUL characters")
    if problems:
        raise errors.InvalidRequest(problems)
