"""The events inventory commits reach ``kubesaga.inventory`` through the relay ``serve`` runs.

Starts the real background workers (outbox relay with its producer, expiry sweeper) on the
module's database and the shared broker, makes reservations through the service layer, and
reads the topic back from where it ended before the test, keeping only this test's orders
(other suites publish to the same topic).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from services.inventory.bootstrap import Inventory, Workers
from services.inventory.domain import errors
from services.inventory.domain.rules import Line
from services.inventory.service_layer import handlers
from services.inventory.settings import InventorySettings, SweeperSettings
from services.runtime.events import INVENTORY_TOPIC, Event, InventoryExpired, decode
from services.runtime.kafka import ensure_topics
from services.runtime.settings import DatabaseSettings, KafkaSettings, OutboxSettings
from tests.integration.inventory.conftest import InventoryDb, product

TTL = timedelta(minutes=15)


@pytest_asyncio.fixture(scope="module")
async def running(inventory_db: InventoryDb, kafka: str) -> AsyncIterator[Inventory]:
    settings = InventorySettings(
        environment="test",
        db=DatabaseSettings(url=inventory_db.url),
        kafka=KafkaSettings(bootstrap_servers=kafka, client_id="inventory-tests"),
        outbox=OutboxSettings(poll_interval=timedelta(milliseconds=50)),
        sweeper=SweeperSettings(interval=timedelta(milliseconds=200)),
    )
    inventory = Inventory(settings, inventory_db.engine, inventory_db.sessions)
    workers = Workers(inventory)
    await workers.start()
    try:
        yield inventory
    finally:
        await workers.stop()


async def topic_ends(kafka: str) -> dict[TopicPartition, int]:
    await ensure_topics(KafkaSettings(bootstrap_servers=kafka), [INVENTORY_TOPIC])
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        [described] = await admin.describe_topics([INVENTORY_TOPIC])
    finally:
        await admin.close()
    tps = [TopicPartition(INVENTORY_TOPIC, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def events_of(
    kafka: str, start: dict[TopicPartition, int], orders: Collection[uuid.UUID], count: int
) -> list[Event]:
    """The first ``count`` events of ``orders`` published after ``start``, per partition order."""
    keys = {str(order).encode() for order in orders}
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        found: list[Event] = []
        deadline = time.monotonic() + 20
        while len(found) < count:
            assert time.monotonic() < deadline, f"saw {[e.type for e in found]} of {count}"
            for records in (await consumer.getmany(timeout_ms=300)).values():
                found.extend(decode(r.value) for r in records if r.key in keys)
        return found
    finally:
        await consumer.stop()


async def test_reservation_events_are_published_keyed_by_order_in_order(
    running: Inventory, inventory_db: InventoryDb, kafka: str
) -> None:
    start = await topic_ends(kafka)
    a = f"A-{uuid.uuid4().hex[:8]}"
    await inventory_db.add_products(product(a, 3, threshold=1))
    ok, short = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    await handlers.reserve(running.uow(), order_id=ok, lines=[Line(a, 2)], now=now, ttl=TTL)
    await handlers.commit(running.uow(), order_id=ok, now=now)
    with pytest.raises(errors.OutOfStock):
        await handlers.reserve(running.uow(), order_id=short, lines=[Line(a, 2)], now=now, ttl=TTL)

    found = await events_of(kafka, start, {ok, short}, 4)

    by_order = {
        order: [e.type for e in found if e.aggregate_id == str(order)] for order in (ok, short)
    }
    assert by_order == {
        ok: ["inventory.reserved", "inventory.low_stock", "inventory.committed"],
        short: ["inventory.rejected"],
    }
    rows = await inventory_db.events(ok, short)
    assert sorted(str(e.id) for e in found) == sorted(str(e.id) for e in rows)


async def test_the_sweeper_in_serve_expires_a_reservation_and_publishes_it(
    running: Inventory, inventory_db: InventoryDb, kafka: str
) -> None:
    start = await topic_ends(kafka)
    a = f"A-{uuid.uuid4().hex[:8]}"
    await inventory_db.add_products(product(a, 5))
    order = uuid.uuid4()
    long_ago = datetime.now(UTC) - TTL - timedelta(seconds=1)
    await handlers.reserve(running.uow(), order_id=order, lines=[Line(a, 2)], now=long_ago, ttl=TTL)

    reserved, expired = await events_of(kafka, start, {order}, 2)

    assert (reserved.type, expired.type) == ("inventory.reserved", "inventory.expired")
    assert isinstance(expired.payload, InventoryExpired)
    assert await inventory_db.stock(a) == {"available": 5, "reserved": 0, "committed": 0}
