"""The orders use cases, one function each; the API routes and the saga consumer call them.

Each takes the unit of work (and, for placing an order, the Catalog port) and does its work in
one transaction: the state change and the outbox rows of its events are committed together,
or neither is. Idempotency of ``POST /orders`` (the Idempotency-Key) is the API's concern; the
commands here are idempotent by themselves (a repeated complete or cancel writes nothing).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.orders.adapters.unit_of_work import OrdersUnitOfWork
from services.orders.domain import errors, model
from services.orders.domain.catalog import Catalog
from services.orders.service_layer import messages, metrics, paging
from services.runtime import events as contracts

logger = logging.getLogger(__name__)

MAX_PAGE = 100


@dataclass(frozen=True)
class Outcome:
    """An order after a command, and whether the command changed it (False: a repeat)."""

    order: model.Order
    changed: bool


@dataclass(frozen=True)
class Page:
    orders: list[model.Order]
    next_cursor: str | None


def _now() -> datetime:
    return datetime.now(UTC)


async def place_order(
    *,
    uow: OrdersUnitOfWork,
    catalog: Catalog,
    customer_id: str,
    items: Sequence[model.RequestedItem],
    currency: str,
    payment_method: str,
    order_id: uuid.UUID | None = None,
    correlation_id: str | None = None,
    now: datetime | None = None,
) -> model.Order:
    """Price ``items`` from the catalog, then store the order and ``order.created`` together."""
    model.check_items(items)  # before spending a catalog call on a request that cannot pass
    quotes = await catalog.quote({item.sku for item in items})
    order_id = order_id or uuid.uuid4()
    order = model.Order.place(
        order_id=order_id,
        customer_id=customer_id,
        lines=model.price_items(items, quotes, currency),
        currency=currency,
        payment_method=payment_method,
        now=now or _now(),
    )
    async with uow:
        await uow.orders.add(order)
        _emit(uow, order, correlation_id)
        await uow.commit()
    metrics.ORDERS_CREATED.labels(order.currency).inc()
    return order


async def complete_order(
    *, uow: OrdersUnitOfWork, order_id: uuid.UUID, correlation_id: str | None = None
) -> Outcome:
    async with uow:
        order = await _locked(uow, order_id)
        changed = order.complete(now=_now())
        if changed:
            await uow.orders.save(order)
            _emit(uow, order, correlation_id)
            await uow.commit()
            metrics.ORDERS_FINISHED.labels(order.phase.value).inc()
    return Outcome(order, changed)


async def cancel_order(
    *, uow: OrdersUnitOfWork, order_id: uuid.UUID, reason: str, correlation_id: str | None = None
) -> Outcome:
    async with uow:
        order = await _locked(uow, order_id)
        changed = order.cancel(reason=reason, now=_now())
        if changed:
            await uow.orders.save(order)
            _emit(uow, order, correlation_id)
            await uow.commit()
            metrics.ORDERS_FINISHED.labels(order.phase.value).inc()
    return Outcome(order, changed)


async def verify_order(
    *, uow: OrdersUnitOfWork, order_id: uuid.UUID, terms: model.Terms
) -> model.Order:
    """The order, if it was placed on exactly ``terms``: the saga asks before taking anything,
    so an Order made by hand (for no order, or on other terms) takes no stock and no money."""
    order = await get_order(uow=uow, order_id=order_id)
    differences = order.differences(terms)
    if differences:
        raise errors.TermsDiffer(order_id, differences)
    return order


async def get_order(*, uow: OrdersUnitOfWork, order_id: uuid.UUID) -> model.Order:
    async with uow:
        order = await uow.orders.get(order_id)
    if order is None:
        raise errors.OrderNotFound(order_id)
    return order


async def list_orders(
    *,
    uow: OrdersUnitOfWork,
    limit: int,
    cursor: str | None = None,
    phase: model.Phase | None = None,
    customer_id: str | None = None,
) -> Page:
    """Orders newest first, ``limit`` (1..100) at a time, optionally of one phase or customer."""
    if not 1 <= limit <= MAX_PAGE:
        raise errors.OrderRejected([f"limit must be 1 to {MAX_PAGE}"])
    after = paging.decode(cursor) if cursor else None
    async with uow:
        orders = await uow.orders.page(
            limit=limit + 1, after=after, phase=phase, customer_id=customer_id
        )
    more = len(orders) > limit
    orders = orders[:limit]
    last = orders[-1] if more else None
    return Page(orders, paging.encode((last.created_at, last.id)) if last else None)


async def record_saga_event(event: contracts.Event, uow: OrdersUnitOfWork) -> None:
    """The ``orders`` consumer group's handler: add an inventory or payments fact to its order.

    Runs inside the consumer's unit of work (the consumer commits, with the inbox row). An
    event for an order this database does not hold is not ours (the topics are shared by
    every saga) and is skipped: inventory and payments only act on orders whose
    ``order.created`` was committed here first, so it cannot be an early arrival.
    """
    fact = messages.fact_from(event)
    if fact is None:
        return
    order = await uow.orders.get(event.payload.order_id, for_update=True)
    if order is None:
        logger.info("skipping %s %s: no such order here", event.type, event.id)
        return
    if order.record(fact) is not None:
        await uow.orders.save(order)


async def _locked(uow: OrdersUnitOfWork, order_id: uuid.UUID) -> model.Order:
    order = await uow.orders.get(order_id, for_update=True)
    if order is None:
        raise errors.OrderNotFound(order_id)
    return order


def _emit(uow: OrdersUnitOfWork, order: model.Order, correlation_id: str | None) -> None:
    # The order id correlates the saga unless the caller carried a correlation id of its own.
    for event in order.events:
        uow.emit(messages.order_event(order, event, correlation_id=correlation_id or str(order.id)))
    order.events.clear()
