"""The ``orders`` consumer on real Kafka: saga events become phase changes and timeline entries.

Events are produced with the runtime's Event model to the real ``kubesaga.inventory`` and
``kubesaga.payments`` topics, for orders only this test's database holds (other suites share
the topics; their events are skipped as "not ours"). The consumer group is uuid-suffixed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.orders.adapters import tables
from services.orders.adapters.unit_of_work import OrdersUnitOfWork
from services.orders.domain import facts, model
from services.orders.domain.model import RequestedItem
from services.orders.entrypoints.consumers import saga_event_consumer
from services.orders.service_layer import handlers
from services.orders.settings import OrdersSettings
from services.runtime import events as contracts
from services.runtime.consumer import InboxConsumer
from services.runtime.kafka import IdempotentProducer, encode_headers, start_producer
from services.runtime.settings import ConsumerSettings, KafkaSettings
from tests.integration.orders.support import MemoryCatalog
from tests.support import eventually

UowFactory = Callable[[], OrdersUnitOfWork]


@pytest_asyncio.fixture(scope="module")
async def settings(kafka: str, orders_db: str) -> OrdersSettings:
    return OrdersSettings(
        kafka=KafkaSettings(bootstrap_servers=kafka, client_id="orders-tests"),
        consumer=ConsumerSettings(
            max_attempts=3,
            backoff_initial=timedelta(milliseconds=50),
            backoff_max=timedelta(milliseconds=200),
        ),
        consumer_group=f"orders-test-{uuid.uuid4().hex[:10]}",
    )


@pytest_asyncio.fixture(scope="module")
async def producer(settings: OrdersSettings) -> AsyncIterator[IdempotentProducer]:
    producer = await start_producer(settings.kafka)
    yield producer
    await producer.stop()


@pytest_asyncio.fixture(scope="module")
async def consumer(
    settings: OrdersSettings, uow: UowFactory, producer: IdempotentProducer
) -> AsyncIterator[InboxConsumer[OrdersUnitOfWork]]:
    consumer = saga_event_consumer(settings=settings, unit_of_work=uow, producer=producer)
    async with consumer:
        yield consumer


async def publish(producer: IdempotentProducer, *events: contracts.Event) -> None:
    for event in events:
        await producer.send_and_wait(
            event.topic,
            event.encode(),
            key=event.aggregate_id.encode(),
            headers=encode_headers({"id": str(event.id), "type": event.type}),
        )


def event(payload: contracts.EventPayload) -> contracts.Event:
    return contracts.Event.of(payload, correlation_id="corr-consumer-test")


async def new_order(uow: UowFactory) -> model.Order:
    return await handlers.place_order(
        uow=uow(),
        catalog=MemoryCatalog(),
        customer_id="c-consumer",
        items=[RequestedItem("SKU-1", 2)],
        currency="EUR",
        payment_method="pm_card_visa",
    )


async def timeline_once(uow: UowFactory, order_id: uuid.UUID, steps: int) -> model.Order | None:
    order = await handlers.get_order(uow=uow(), order_id=order_id)
    return order if len(order.timeline) >= steps else None


async def test_events_move_the_phase_and_a_redelivery_adds_nothing(
    consumer: InboxConsumer[OrdersUnitOfWork],
    producer: IdempotentProducer,
    uow: UowFactory,
    engine: AsyncEngine,
    settings: OrdersSettings,
) -> None:
    order = await new_order(uow)
    reservation = uuid.uuid4()
    reserved = event(
        contracts.InventoryReserved(
            order_id=order.id,
            reservation_id=reservation,
            items=[contracts.ReservedLine(sku="SKU-1", quantity=2)],
            expires_at=datetime.now(UTC) + timedelta(minutes=5),
        )
    )
    authorized = event(
        contracts.PaymentAuthorized(
            order_id=order.id,
            payment_id=uuid.uuid4(),
            amount=contracts.Money(value=3998, currency="EUR"),
            provider="stripe",
            provider_reference="pi_test",
        )
    )
    # Same key, same topic, so the same partition: the committed event is handled after the
    # duplicate, and seeing it proves the duplicate was consumed (and absorbed) first.
    committed = event(contracts.InventoryCommitted(order_id=order.id, reservation_id=reservation))
    await publish(producer, reserved, reserved, authorized, committed)

    done = await eventually(
        lambda: timeline_once(uow, order.id, 4), timeout=30, what="four timeline entries"
    )

    assert done.phase is model.Phase.PAYMENT_AUTHORIZED
    steps = [entry.step.value for entry in done.timeline]
    assert sorted(steps) == sorted(
        ["created", "stock_reserved", "payment_authorized", "stock_committed"]
    )
    i = tables.inbox
    async with engine.connect() as conn:
        handled = await conn.scalar(
            select(func.count())
            .select_from(i)
            .where(i.c.consumer_group == settings.consumer_group)
            .where(i.c.event_id.in_([reserved.id, authorized.id, committed.id]))
        )
    assert handled == 3


async def test_a_late_event_is_recorded_without_reopening_a_cancelled_order(
    consumer: InboxConsumer[OrdersUnitOfWork], producer: IdempotentProducer, uow: UowFactory
) -> None:
    order = await new_order(uow)
    await handlers.cancel_order(uow=uow(), order_id=order.id, reason="PaymentTimeout")
    rejected = event(
        contracts.InventoryRejected(
            order_id=order.id,
            lines=[
                contracts.RejectedLine(sku="SKU-1", requested=2, available=0, reason="out_of_stock")
            ],
        )
    )
    await publish(producer, rejected)

    done = await eventually(
        lambda: timeline_once(uow, order.id, 3), timeout=30, what="the late entry"
    )

    assert done.phase is model.Phase.CANCELLED
    late = done.timeline[-1]
    assert (late.step, late.phase, late.reason) == (
        model.Step.STOCK_REJECTED,
        model.Phase.CANCELLED,
        "SKU-1: out_of_stock",
    )
    assert late.rejected == (
        facts.RejectedLine("SKU-1", requested=2, available=0, reason="out_of_stock"),
    )
