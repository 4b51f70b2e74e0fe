"""The orders use cases on a real Postgres: what each stores, and what it stores nothing for.

The catalog is the in-memory one (our own port); the database, its constraints and its locks
are real, which is what atomicity, idempotency and the concurrent-command tests are about.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.orders.adapters import tables
from services.orders.adapters.unit_of_work import OrdersUnitOfWork
from services.orders.domain import errors, model
from services.orders.domain.model import Phase, RequestedItem, Step
from services.orders.service_layer import handlers, paging
from services.runtime import events as contracts
from tests.integration.orders.support import MemoryCatalog, count_rows

UowFactory = Callable[[], OrdersUnitOfWork]
ITEMS = [RequestedItem("SKU-1", 2), RequestedItem("SKU-2", 3)]


async def place(
    uow: UowFactory,
    catalog: MemoryCatalog | None = None,
    *,
    customer_id: str = "c-1",
    items: list[RequestedItem] = ITEMS,
    currency: str = "EUR",
    now: datetime | None = None,
) -> model.Order:
    return await handlers.place_order(
        uow=uow(),
        catalog=catalog or MemoryCatalog(),
        customer_id=customer_id,
        items=items,
        currency=currency,
        payment_method="pm_card_visa",
        now=now,
    )


async def outbox_events(engine: AsyncEngine, order_id: uuid.UUID) -> list[contracts.Event]:
    o = tables.outbox
    async with engine.connect() as conn:
        rows = await conn.execute(select(o).where(o.c.key == str(order_id)).order_by(o.c.id))
        return [contracts.decode(row.value) for row in rows]


async def test_placing_stores_the_priced_order_and_one_order_created_event(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    order = await place(uow)

    stored = await handlers.get_order(uow=uow(), order_id=order.id)
    assert stored.lines == (model.Line("SKU-1", 2, 1999), model.Line("SKU-2", 3, 500))
    assert (stored.amount, stored.currency, stored.phase) == (5498, "EUR", Phase.PENDING)
    assert stored.created_at == order.created_at
    assert [entry.step for entry in stored.timeline] == [Step.CREATED]
    [event] = await outbox_events(engine, order.id)
    assert event.type == "order.created"
    assert event.correlation_id == str(order.id)
    assert event.payload == contracts.OrderCreated(
        order_id=order.id,
        customer_id="c-1",
        items=[
            contracts.OrderLine(sku="SKU-1", quantity=2, unit_price=1999),
            contracts.OrderLine(sku="SKU-2", quantity=3, unit_price=500),
        ],
        amount=contracts.Money(value=5498, currency="EUR"),
        payment_method="pm_card_visa",
    )


async def test_a_failure_after_the_order_insert_leaves_neither_order_nor_event(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    # The repository inserts the order, its lines and its timeline first; the outbox row is
    # inserted by commit, and this constraint makes that last insert fail in the database.
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "ALTER TABLE outbox ADD CONSTRAINT test_refuse_created "
                "CHECK (event_type <> 'order.created') NOT VALID"
            )
        )
    before = await count_rows(engine)
    try:
        with pytest.raises(IntegrityError, match="test_refuse_created"):
            await place(uow)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE outbox DROP CONSTRAINT test_refuse_created"))
    assert await count_rows(engine) == before


async def test_a_bad_request_is_refused_before_the_catalog_is_asked(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    catalog = MemoryCatalog()
    before = await count_rows(engine)
    duplicate = [RequestedItem("SKU-1", 1), RequestedItem("SKU-1", 2)]
    with pytest.raises(errors.OrderRejected, match="more than one line"):
        await place(uow, catalog, items=duplicate)
    with pytest.raises(errors.OrderRejected, match="not 0"):
        await place(uow, catalog, items=[RequestedItem("SKU-1", 0)])
    assert catalog.lookups == []
    assert await count_rows(engine) == before


@pytest.mark.parametrize(
    ("items", "currency", "error"),
    [
        ([RequestedItem("SKU-1", 1), RequestedItem("NOPE", 1)], "EUR", errors.UnknownSkus),
        ([RequestedItem("SKU-USD", 1)], "EUR", errors.CurrencyMismatch),
        ([RequestedItem("SKU-1", 1)], "USD", errors.CurrencyMismatch),
    ],
)
async def test_catalog_refusals_store_nothing(
    uow: UowFactory,
    engine: AsyncEngine,
    items: list[RequestedItem],
    currency: str,
    error: type[Exception],
) -> None:
    catalog = MemoryCatalog()
    before = await count_rows(engine)
    with pytest.raises(error):
        await place(uow, catalog, items=items, currency=currency)
    assert catalog.lookups == [{item.sku for item in items}]  # one lookup of the distinct SKUs
    assert await count_rows(engine) == before


async def test_an_unavailable_catalog_stores_nothing(uow: UowFactory, engine: AsyncEngine) -> None:
    catalog = MemoryCatalog()
    catalog.unavailable = True
    before = await count_rows(engine)
    with pytest.raises(errors.CatalogUnavailable):
        await place(uow, catalog)
    assert await count_rows(engine) == before


@pytest.mark.parametrize(
    ("first", "second", "final"),
    [("complete", "cancel", Phase.COMPLETED), ("cancel", "complete", Phase.CANCELLED)],
)
async def test_commands_are_idempotent_and_the_opposite_one_conflicts(
    uow: UowFactory, engine: AsyncEngine, first: str, second: str, final: Phase
) -> None:
    order = await place(uow)

    async def run(command: str) -> handlers.Outcome:
        if command == "complete":
            return await handlers.complete_order(uow=uow(), order_id=order.id)
        return await handlers.cancel_order(uow=uow(), order_id=order.id, reason="OutOfStock")

    done = await run(first)
    again = await run(first)
    with pytest.raises(errors.OrderConflict):
        await run(second)

    assert (done.changed, again.changed) == (True, False)
    assert done.order.phase is again.order.phase is final
    assert again.order.updated_at == done.order.updated_at
    stored = await handlers.get_order(uow=uow(), order_id=order.id)
    assert stored.phase is final
    past = {"complete": "completed", "cancel": "cancelled"}[first]
    assert [entry.step.value for entry in stored.timeline] == ["created", past]
    types = [event.type for event in await outbox_events(engine, order.id)]
    assert types == ["order.created", f"order.{past}"]  # the repeat wrote no second event


async def test_concurrent_complete_and_cancel_finish_the_order_once(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    order = await place(uow)
    results = await asyncio.gather(
        handlers.complete_order(uow=uow(), order_id=order.id),
        handlers.cancel_order(uow=uow(), order_id=order.id, reason="deadline"),
        return_exceptions=True,
    )
    conflicts = [r for r in results if isinstance(r, errors.OrderConflict)]
    outcomes = [r for r in results if isinstance(r, handlers.Outcome)]
    assert len(conflicts) == 1 and len(outcomes) == 1, results
    types = [event.type for event in await outbox_events(engine, order.id)]
    assert len(types) == 2 and types[1] in ("order.completed", "order.cancelled")


async def test_commands_on_an_unknown_order_say_so(uow: UowFactory) -> None:
    with pytest.raises(errors.OrderNotFound):
        await handlers.complete_order(uow=uow(), order_id=uuid.uuid4())
    with pytest.raises(errors.OrderNotFound):
        await handlers.cancel_order(uow=uow(), order_id=uuid.uuid4(), reason="x")
    with pytest.raises(errors.OrderNotFound):
        await handlers.get_order(uow=uow(), order_id=uuid.uuid4())


async def record(uow: UowFactory, payload: contracts.EventPayload) -> contracts.Event:
    event = contracts.Event.of(payload, correlation_id="corr-test")
    async with uow() as unit:
        await handlers.record_saga_event(event, unit)
        await unit.commit()
    return event


async def test_saga_events_move_the_phase_and_fill_the_timeline(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    order = await place(uow)
    reservation, payment = uuid.uuid4(), uuid.uuid4()
    await record(
        uow,
        contracts.InventoryRejected(
            order_id=order.id,
            lines=[
                contracts.RejectedLine(sku="SKU-1", requested=2, available=1, reason="out_of_stock")
            ],
        ),
    )
    reserved = await record(
        uow,
        contracts.InventoryReserved(
            order_id=order.id,
            reservation_id=reservation,
            items=[contracts.ReservedLine(sku="SKU-1", quantity=2)],
            expires_at=datetime.now(UTC) + timedelta(minutes=5),
        ),
    )
    await record(
        uow,
        contracts.PaymentFailed(
            order_id=order.id, payment_id=payment, reason="card_declined", decline_code="generic"
        ),
    )
    await record(
        uow, contracts.InventoryLowStock(order_id=order.id, sku="SKU-1", available=1, threshold=5)
    )

    stored = await handlers.get_order(uow=uow(), order_id=order.id)
    assert stored.phase is Phase.STOCK_RESERVED
    assert [(e.step.value, e.phase.value, e.reason) for e in stored.timeline] == [
        ("created", "Pending", ""),
        ("stock_rejected", "Pending", "SKU-1: out_of_stock"),
        ("stock_reserved", "StockReserved", ""),
        ("payment_failed", "StockReserved", "card_declined (generic)"),
    ]
    assert stored.timeline[1].rejected[0].available == 1
    assert stored.timeline[2].event_id == reserved.id
    assert stored.timeline[2].at == reserved.occurred_at
    assert [e.type for e in await outbox_events(engine, order.id)] == ["order.created"]


async def test_a_late_event_is_recorded_but_leaves_a_final_phase(uow: UowFactory) -> None:
    order = await place(uow)
    await handlers.cancel_order(uow=uow(), order_id=order.id, reason="deadline")
    await record(
        uow,
        contracts.PaymentAuthorized(
            order_id=order.id,
            payment_id=uuid.uuid4(),
            amount=contracts.Money(value=5498, currency="EUR"),
            provider="stripe",
            provider_reference="pi_1",
        ),
    )
    stored = await handlers.get_order(uow=uow(), order_id=order.id)
    assert stored.phase is Phase.CANCELLED
    assert (stored.timeline[-1].step, stored.timeline[-1].phase) == (
        Step.PAYMENT_AUTHORIZED,
        Phase.CANCELLED,
    )


async def test_an_event_for_another_services_order_is_skipped(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    before = await count_rows(engine)
    stranger = contracts.InventoryExpired(order_id=uuid.uuid4(), reservation_id=uuid.uuid4())
    await record(uow, stranger)
    assert await count_rows(engine) == before


async def test_paging_walks_every_order_newest_first_and_filters(uow: UowFactory) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    t0 = datetime(2031, 1, 1, tzinfo=UTC)
    # Five distinct times and two orders sharing one, so the id breaks the tie.
    times = [t0 + timedelta(seconds=s) for s in (0, 1, 2, 2, 3, 4)]
    placed = [await place(uow, customer_id=customer, now=at) for at in times]
    await handlers.cancel_order(uow=uow(), order_id=placed[1].id, reason="r")
    await handlers.cancel_order(uow=uow(), order_id=placed[4].id, reason="r")

    seen: list[uuid.UUID] = []
    cursor = None
    pages = 0
    while True:
        page = await handlers.list_orders(uow=uow(), limit=4, cursor=cursor, customer_id=customer)
        pages += 1
        seen.extend(order.id for order in page.orders)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    newest_first = sorted(placed, key=lambda o: (o.created_at, o.id), reverse=True)
    assert seen == [o.id for o in newest_first]
    assert pages == 2

    cancelled = await handlers.list_orders(
        uow=uow(), limit=100, customer_id=customer, phase=Phase.CANCELLED
    )
    assert [o.id for o in cancelled.orders] == [placed[4].id, placed[1].id]
    assert cancelled.next_cursor is None
    assert all(o.lines for o in cancelled.orders)

    exact = await handlers.list_orders(uow=uow(), limit=6, customer_id=customer)
    assert len(exact.orders) == 6 and exact.next_cursor is None


NAIVE = paging.encode((datetime(2030, 1, 1), uuid.uuid4()))
TRUNCATED = paging.encode((datetime.now(UTC), uuid.uuid4()))[:-3]


@pytest.mark.parametrize("cursor", ["garbage", "e30", "WzFd", NAIVE, TRUNCATED, "é"])
async def test_a_foreign_cursor_is_refused(uow: UowFactory, cursor: str) -> None:
    with pytest.raises(paging.InvalidCursor):
        await handlers.list_orders(uow=uow(), limit=10, cursor=cursor)


@pytest.mark.parametrize("limit", [0, 101])
async def test_the_page_size_is_bounded(uow: UowFactory, limit: int) -> None:
    with pytest.raises(errors.OrderRejected):
        await handlers.list_orders(uow=uow(), limit=limit)


async def test_free_text_from_other_services_is_stored_even_with_nul(uow: UowFactory) -> None:
    order = await place(uow)
    await record(
        uow,
        contracts.PaymentFailed(
            order_id=order.id, payment_id=uuid.uuid4(), reason="card\x00_declined", message="m\x00"
        ),
    )
    stored = await handlers.get_order(uow=uow(), order_id=order.id)
    assert stored.timeline[-1].reason == "card_declined: m"
