"""Inventory's use cases: reserve, commit, release and expire reservations, read the catalog.

Plain async functions taking a fresh ``InventoryUnitOfWork`` and the request's values; the
HTTP routes, the sweeper and the CLI call them. Each state change, its events (through the
outbox) and the stock it moves are committed in one transaction. Refusals are raised as
``domain.errors`` after anything that had to be stored (an expiry noticed on the way) is.

Never overselling, under any number of concurrent requests:

- Every transaction that moves stock locks the product rows it moves with
  ``SELECT ... FOR UPDATE`` in SKU order, decides with the pure ``rules.decide`` on the
  locked counts, writes them back, and commits. Rows are read locked, so no decision is
  made on a stale count; the sorted order means two requests sharing SKUs queue on the first
  one they share rather than each holding one the other wants (no deadlocks). A conditional
  ``UPDATE ... WHERE available >= :q`` per line would also be safe, but the rule would then
  live in SQL; locking first lets the domain decide, and reports every short line at once.
- Requests on an existing reservation lock its row first (reservation, then products: one
  order everywhere). The sweeper claims due reservations with ``SKIP LOCKED``, so it never
  waits on a row a request holds and a request never finds one half-expired.
- One reservation per order: its primary key is the order id. Two concurrent first requests
  for one order (two reserves, or a reserve racing a release's tombstone) both try to insert
  it; the loser's insert fails, its transaction (and any stock it took) is rolled back, and
  it runs again to find and answer with the winner's row.
- The tables' CHECK constraints (no negative count) are a last guard, not the mechanism.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from services.inventory.adapters.repository import DuplicateReservation
from services.inventory.adapters.unit_of_work import InventoryUnitOfWork
from services.inventory.domain import errors, rules
from services.inventory.domain.reservation import Reservation, Status
from services.inventory.domain.stock import Product
from services.inventory.service_layer import messages, metrics

T = TypeVar("T")

# A duplicate insert means another transaction committed the order's row: the next attempt
# finds it. More than a couple of rounds would be a bug, not contention.
_DUPLICATE_ATTEMPTS = 3


@dataclass(frozen=True)
class Reserved:
    reservation: Reservation
    created: bool  # False: a repeat, answered with the stored reservation


async def reserve(
    uow: InventoryUnitOfWork,
    *,
    order_id: uuid.UUID,
    lines: Sequence[rules.Line],
    now: datetime,
    ttl: timedelta,
    correlation_id: str | None = None,
) -> Reserved:
    """Hold every line for the order, or none (``OutOfStock``, also on a repeat)."""
    ordered = rules.check_lines(lines)  # a bad request costs no database round trip

    async def attempt() -> Reserved:
        async with uow:
            existing = await uow.reservations.get(order_id, lock=True)
            if existing is not None:
                await _expire_if_due(uow, existing, now)
                try:
                    existing.repeat(ordered)
                except errors.OutOfStock:
                    metrics.count("reserve", "repeated")  # the stored rejection, once more
                    raise
                except errors.ReservationConflict:
                    metrics.count("reserve", "refused")
                    raise
                metrics.count("reserve", "repeated")
                return Reserved(existing, created=False)
            products = await uow.products.lock(line.sku for line in ordered)
            reservation = Reservation.place(
                order_id=order_id,
                reservation_id=uuid.uuid4(),
                lines=ordered,
                products=products,
                now=now,
                ttl=ttl,
                correlation_id=correlation_id or str(order_id),
            )
            await uow.reservations.add(reservation)
            moved = products if reservation.status is Status.RESERVED else {}
            await _store(uow, reservation, moved, correlation_id, new=True)
        metrics.count("reserve", reservation.status.value)
        if reservation.status is Status.REJECTED:
            raise errors.OutOfStock(order_id, reservation.shortages)
        return Reserved(reservation, created=True)

    return await _retrying_duplicates(attempt)


async def commit(
    uow: InventoryUnitOfWork,
    *,
    order_id: uuid.UUID,
    now: datetime,
    correlation_id: str | None = None,
) -> Reservation:
    """Sell the order's reserved stock; a repeat answers with the committed reservation."""
    async with uow:
        reservation = await _existing(uow, order_id)
        products = await uow.products.lock(reservation.skus)
        await _expire_if_due(uow, reservation, now, products)
        try:
            changed = reservation.commit(products, now)
        except errors.ReservationClosed:
            metrics.count("commit", "refused")
            raise
        if changed:
            await _store(uow, reservation, products, correlation_id)
    metrics.count("commit", "committed" if changed else "repeated")
    return reservation


async def release(
    uow: InventoryUnitOfWork,
    *,
    order_id: uuid.UUID,
    reason: str,
    now: datetime,
    correlation_id: str | None = None,
) -> Reservation:
    """Give the order's stock back; with no reservation yet, leave a released tombstone."""

    async def attempt() -> Reservation:
        async with uow:
            reservation = await uow.reservations.get(order_id, lock=True)
            if reservation is None:
                reservation = Reservation.tombstone(
                    order_id=order_id,
                    reservation_id=uuid.uuid4(),
                    reason=reason,
                    now=now,
                    correlation_id=correlation_id or str(order_id),
                )
                await uow.reservations.add(reservation)
                await _store(uow, reservation, {}, correlation_id, new=True)
                metrics.count("release", "released")
                return reservation
            products = await uow.products.lock(reservation.skus)
            await _expire_if_due(uow, reservation, now, products)
            try:
                changed = reservation.release(products, reason, now)
            except errors.ReservationConflict:
                metrics.count("release", "refused")
                raise
            if changed:
                await _store(uow, reservation, products, correlation_id)
        metrics.count("release", "released" if changed else "repeated")
        return reservation

    return await _retrying_duplicates(attempt)


async def expire_due(uow: InventoryUnitOfWork, *, now: datetime, limit: int) -> int:
    """Expire up to ``limit`` reservations past their TTL, in one transaction; how many."""
    async with uow:
        due = await uow.reservations.due(now, limit=limit)
        if not due:
            return 0
        products = await uow.products.lock(sku for r in due for sku in r.skus)
        for reservation in due:
            reservation.expire(products, now)
            await uow.reservations.update(reservation)
            _publish(uow, reservation, None)
        await uow.products.save_stock(products.values())
        await uow.commit()
    metrics.count("expire", "expired", len(due))
    metrics.stock(products.values())
    return len(due)


async def product(uow: InventoryUnitOfWork, *, sku: str) -> Product:
    if not rules.valid_sku(sku):
        raise errors.ProductNotFound(sku)
    async with uow:
        found = await uow.products.get(sku)
    if found is None:
        raise errors.ProductNotFound(sku)
    return found


async def products_page(
    uow: InventoryUnitOfWork, *, after: str | None, limit: int
) -> tuple[list[Product], str | None]:
    """A page of the catalog in SKU order, and the SKU to continue after (None: last page)."""
    async with uow:
        page = await uow.products.page(after=after, limit=limit + 1)
    if len(page) > limit:
        return page[:limit], page[limit - 1].sku
    return page, None


async def seed(
    uow: InventoryUnitOfWork, *, catalog: Sequence[Product], reset_stock: bool = False
) -> int:
    """Load ``catalog`` (insert new products, refresh known ones); see ``upsert``."""
    async with uow:
        count = await uow.products.upsert(catalog, reset_stock=reset_stock)
        await uow.commit()
    return count


async def _existing(uow: InventoryUnitOfWork, order_id: uuid.UUID) -> Reservation:
    reservation = await uow.reservations.get(order_id, lock=True)
    if reservation is None:
        raise errors.ReservationNotFound(order_id)
    return reservation


async def _expire_if_due(
    uow: InventoryUnitOfWork,
    reservation: Reservation,
    now: datetime,
    products: Mapping[str, Product] | None = None,
) -> None:
    """Expire a reservation the sweeper has not reached yet, committing that on its own.

    Whatever the request then does, it sees the reservation as expired: its TTL, not the
    sweeper's timing, decides.
    """
    if not reservation.due(now):
        return
    if products is None:
        products = await uow.products.lock(reservation.skus)
    reservation.expire(products, now)
    await _store(uow, reservation, products, None)
    metrics.count("expire", "expired")


async def _store(
    uow: InventoryUnitOfWork,
    reservation: Reservation,
    products: Mapping[str, Product],
    correlation_id: str | None,
    *,
    new: bool = False,
) -> None:
    """Write the reservation's change, the stock it moved and its events; commit."""
    if not new:
        await uow.reservations.update(reservation)
    await uow.products.save_stock(products.values())
    _publish(uow, reservation, correlation_id)
    await uow.commit()
    metrics.stock(products.values())


def _publish(
    uow: InventoryUnitOfWork, reservation: Reservation, correlation_id: str | None
) -> None:
    for event in reservation.events:
        uow.emit(
            messages.envelope(event, correlation_id=correlation_id or reservation.correlation_id)
        )
    reservation.events.clear()


async def _retrying_duplicates(attempt: Callable[[], Awaitable[T]]) -> T:
    for _ in range(_DUPLICATE_ATTEMPTS - 1):
        try:
            return await attempt()
        except DuplicateReservation:
            continue
    return await attempt()
