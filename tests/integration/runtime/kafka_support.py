"""What the relay and consumer tests share: a private schema, test events, reading a topic back.

Each test gets its own Postgres schema holding outbox, inbox and an ``effects`` table (what a
handler changes), so relays of different tests never see each other's rows, and its own topics
(uuid-suffixed: other suites use the same broker). Used by tests/integration/runtime/test_*.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition
from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    String,
    Table,
    Uuid,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from services.runtime.db import NAMING_CONVENTION, session_factory, sqlalchemy_url
from services.runtime.events import Event, OrderCancelled, OrderCompleted
from services.runtime.kafka import ensure_topics
from services.runtime.settings import KafkaSettings
from services.runtime.tables import inbox_table, outbox_table
from services.runtime.uow import UnitOfWork


def kafka_settings(bootstrap: str, *, request_timeout_ms: int = 5_000) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        client_id="kubesaga-tests",
        topic_partitions=3,
        request_timeout_ms=request_timeout_ms,
    )


async def new_topic(settings: KafkaSettings, purpose: str) -> str:
    name = f"test.{purpose}.{uuid.uuid4().hex[:10]}"
    await ensure_topics(settings, [name])
    return name


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    outbox: Table
    inbox: Table
    effects: Table

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, outbox=self.outbox, inbox=self.inbox)

    async def store(self, events: Sequence[Event], *, topic: str) -> None:
        """Commit ``events`` through a unit of work, routed to this test's ``topic``."""
        async with self.uow() as uow:
            for event in events:
                uow.emit(event)
            await uow.commit()
        async with self.engine.begin() as conn:
            await conn.execute(
                update(self.outbox)
                .where(self.outbox.c.event_id.in_([e.id for e in events]))
                .values(topic=topic)
            )

    async def outbox_rows(self) -> list[dict[str, object]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(self.outbox).order_by(self.outbox.c.id))
            return [dict(row._mapping) for row in rows]

    async def effect_counts(self) -> dict[uuid.UUID, int]:
        e = self.effects
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(e.c.event_id, func.count()).group_by(e.c.event_id))
            return {row[0]: row[1] for row in rows}

    async def apply(self, event: Event, uow: UnitOfWork) -> None:
        """The effect a test handler makes: one row per application, no uniqueness of its own."""
        await uow.session.execute(
            insert(self.effects).values(
                event_id=event.id, event_type=event.type, order_id=event.aggregate_id
            )
        )


@asynccontextmanager
async def database(dsn: str) -> AsyncIterator[Database]:
    schema = f"s_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(sqlalchemy_url(dsn), pool_size=10)
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)
    effects = Table(
        "effects",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", Uuid, nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("order_id", String(128), nullable=False),
    )
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            await conn.run_sync(metadata.create_all)
        yield Database(engine, session_factory(engine), outbox, inbox, effects)
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await engine.dispose()


def completed(order_id: uuid.UUID | None = None, *, correlation_id: str = "corr-test") -> Event:
    return Event.of(
        OrderCompleted(order_id=order_id or uuid.uuid4()), correlation_id=correlation_id
    )


def cancelled(order_id: uuid.UUID, reason: str = "test") -> Event:
    return Event.of(OrderCancelled(order_id=order_id, reason=reason), correlation_id="corr-test")


async def read_topic(bootstrap: str, topic: str, *, partitions: int = 3) -> list[ConsumerRecord]:
    """Every record now in ``topic``, partition by partition in offset order (no group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: dict[TopicPartition, list[ConsumerRecord]] = {tp: [] for tp in tps}
        deadline = time.monotonic() + 30
        while await _unread(consumer, ends):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end within 30s")
            for tp, batch in (await consumer.getmany(timeout_ms=500)).items():
                records[tp].extend(batch)
        return [record for tp in tps for record in records[tp]]
    finally:
        await consumer.stop()


async def _unread(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


async def records_with(
    bootstrap: str, topic: str, count: int, *, timeout: float = 30.0
) -> list[ConsumerRecord]:
    """The records of ``topic`` once there are at least ``count``."""
    deadline = time.monotonic() + timeout
    while True:
        records = await read_topic(bootstrap, topic)
        if len(records) >= count:
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"{topic} has {len(records)} records, expected {count}")
        await asyncio.sleep(0.2)


def header(record: ConsumerRecord, key: str) -> str | None:
    values = [v for k, v in record.headers if k == key]
    return values[-1].decode() if values else None


def event_ids(records: Iterable[ConsumerRecord]) -> list[str]:
    return [header(r, "id") or "" for r in records]
