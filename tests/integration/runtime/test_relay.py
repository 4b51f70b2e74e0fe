"""The outbox relay on the real Postgres and Kafka: atomic outbox, at-least-once, order, upkeep."""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from aiokafka.structs import RecordMetadata
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from sqlalchemy import func, insert, select, update

from services.runtime.consumer import InboxConsumer
from services.runtime.events import Event
from services.runtime.kafka import Headers, IdempotentProducer, ensure_topics, start_producer
from services.runtime.relay import AfterSend, OutboxRecord, OutboxRelay
from services.runtime.settings import ConsumerSettings, KafkaSettings, OutboxSettings
from services.runtime.uow import UnitOfWork
from tests.integration.runtime import kafka_support as support
from tests.integration.runtime.kafka_support import Database
from tests.support import eventually

FAST = OutboxSettings(
    batch_size=50,
    poll_interval=timedelta(milliseconds=20),
    backoff_initial=timedelta(milliseconds=100),
    backoff_max=timedelta(seconds=1),
)


@pytest.fixture
def settings(kafka: str) -> KafkaSettings:
    return support.kafka_settings(kafka)


@pytest_asyncio.fixture
async def db(pg: str) -> AsyncIterator[Database]:
    async with support.database(pg) as database:
        yield database


@pytest_asyncio.fixture
async def producer(settings: KafkaSettings) -> AsyncIterator[IdempotentProducer]:
    producer = await start_producer(settings)
    yield producer
    await producer.stop()


@pytest_asyncio.fixture
async def topic(settings: KafkaSettings) -> str:
    return await support.new_topic(settings, "relay")


def relay(
    db: Database,
    producer: IdempotentProducer,
    *,
    service: str = "orders-test",
    tracer: trace.Tracer | None = None,
    after_send: AfterSend | None = None,
) -> OutboxRelay:
    return OutboxRelay(
        db.engine, db.outbox, producer, FAST, service=service, tracer=tracer, after_send=after_send
    )


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_the_outbox_holds_the_events_of_committed_units_of_work_only(db: Database) -> None:
    forgotten, failed, kept = support.completed(), support.completed(), support.completed()
    async with db.uow() as uow:
        uow.emit(forgotten)  # left without commit
    with pytest.raises(RuntimeError, match="handler broke"):
        async with db.uow() as uow:
            uow.emit(failed)
            await db.apply(failed, uow)
            raise RuntimeError("handler broke")
    async with db.uow() as uow:
        uow.emit(kept)
        second = support.cancelled(kept.payload.order_id)
        uow.emit(second)
        await db.apply(kept, uow)
        await uow.commit()

    rows = await db.outbox_rows()
    assert [row["event_id"] for row in rows] == [kept.id, second.id]
    assert [row["key"] for row in rows] == [str(kept.payload.order_id)] * 2
    assert [row["value"] for row in rows] == [kept.encode(), second.encode()]
    assert all(row["published_at"] is None for row in rows)
    assert await db.effect_counts() == {kept.id: 1}


async def test_the_relay_publishes_rows_with_key_and_headers_and_marks_them(
    db: Database, producer: IdempotentProducer, topic: str, kafka: str
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    order_id = uuid.uuid4()
    events = [
        support.completed(order_id, correlation_id="corr-42"),
        support.cancelled(order_id),
    ]
    with tracer.start_as_current_span("POST /orders") as request:
        await db.store(events, topic=topic)
    service = support.unique("svc")

    published = await relay(db, producer, service=service, tracer=tracer).run_once()

    assert published == 2
    records = await support.records_with(kafka, topic, 2)
    assert [r.value for r in records] == [e.encode() for e in events]  # one key, one partition
    assert {r.key for r in records} == {str(order_id).encode()}
    first = records[0]
    assert support.header(first, "id") == str(events[0].id)
    assert support.header(first, "type") == "order.completed"
    assert support.header(first, "correlationId") == "corr-42"
    traceparent = support.header(first, "traceparent") or ""
    request_context = request.get_span_context()
    assert traceparent.split("-")[1] == f"{request_context.trace_id:032x}"
    sends = [s for s in exporter.get_finished_spans() if s.kind is trace.SpanKind.PRODUCER]
    assert len(sends) == 2
    assert all(s.parent and s.parent.span_id == request_context.span_id for s in sends)
    assert traceparent.split("-")[2] in {f"{s.context.span_id:016x}" for s in sends}

    rows = await db.outbox_rows()
    assert all(isinstance(row["published_at"], datetime) for row in rows)
    assert all(row["attempts"] == 0 and row["last_error"] is None for row in rows)
    labels = {"service": service}
    assert sample("outbox_publish_total", {**labels, "outcome": "published"}) == 2
    assert sample("outbox_publish_lag_seconds_count", labels) == 2
    assert await relay(db, producer, service=service).refresh_pending() == 0
    assert sample("outbox_pending", labels) == 0


async def test_a_topic_prefix_keeps_a_deployments_events_on_its_own_topics(
    db: Database, producer: IdempotentProducer, settings: KafkaSettings, topic: str, kafka: str
) -> None:
    """The outbox stores the contract's topic; relay and consumers add the prefix."""
    staged = settings.model_copy(update={"topic_prefix": f"{support.unique('staging')}."})
    await ensure_topics(settings, [staged.topic(topic)])
    event = support.completed()
    await db.store([event], topic=topic)
    group = support.unique("group")
    consumer = _applying_consumer(db, producer, staged, topic=topic, group=group)
    assert consumer.topics == (staged.topic(topic),)

    relay = OutboxRelay(
        db.engine,
        db.outbox,
        producer,
        FAST,
        service="orders-test",
        topic_prefix=staged.topic_prefix,
    )
    assert await relay.run_once() == 1
    async with consumer:
        await _consumed(group, event.type, "processed", what="the event through the prefixed topic")

    assert await db.effect_counts() == {event.id: 1}
    assert [r.value for r in await support.read_topic(kafka, staged.topic(topic))] == [
        event.encode()
    ]
    assert await support.read_topic(kafka, topic) == []  # the bare topic got nothing


class RelayKilled(Exception):
    """Stands for the relay process dying between Kafka's acknowledgement and its commit."""


async def test_a_relay_killed_between_send_and_mark_republishes_and_the_inbox_absorbs_it(
    db: Database, producer: IdempotentProducer, topic: str, kafka: str, settings: KafkaSettings
) -> None:
    event = support.completed()
    await db.store([event], topic=topic)
    acknowledged: list[OutboxRecord] = []

    async def die(sent: Sequence[OutboxRecord]) -> None:
        acknowledged.extend(sent)
        raise RelayKilled

    with pytest.raises(RelayKilled):
        await relay(db, producer, service="orders-test", after_send=die).run_once()
    assert [r.event_id for r in acknowledged] == [event.id]
    assert [row["published_at"] for row in await db.outbox_rows()] == [None]

    assert await relay(db, producer, service="orders-test").run_once() == 1
    records = await support.records_with(kafka, topic, 2)
    assert support.event_ids(records) == [str(event.id)] * 2

    group = support.unique("relay-crash")
    consumer = _applying_consumer(db, producer, settings, topic=topic, group=group)
    async with consumer:
        await _consumed(group, event.type, "duplicate", what="the duplicate delivery")
    assert await db.effect_counts() == {event.id: 1}


def _applying_consumer(
    db: Database, producer: IdempotentProducer, kafka: KafkaSettings, *, topic: str, group: str
) -> InboxConsumer[UnitOfWork]:
    """A consumer that applies the test events to the test database through its inbox."""
    return InboxConsumer(
        topics=[topic],
        group=group,
        handler=db.apply,
        unit_of_work=db.uow,
        producer=producer,
        kafka=kafka,
        settings=ConsumerSettings(),
    )


async def _at_least(name: str, labels: dict[str, str], value: float) -> bool | None:
    return True if sample(name, labels) >= value else None


async def _consumed(group: str, event_type: str, outcome: str, *, what: str) -> None:
    """Wait until `group` has counted one `event_type` with `outcome`."""
    labels = {"group": group, "type": event_type, "outcome": outcome}
    await eventually(lambda: _at_least("consumer_events_total", labels, 1), what=what)


async def test_two_relays_at_once_publish_every_row_once_and_each_key_in_order(
    db: Database, producer: IdempotentProducer, topic: str, kafka: str
) -> None:
    keys = [uuid.uuid4() for _ in range(5)]  # fewer than a batch: relays contend for keys
    events = [support.completed(keys[i % len(keys)]) for i in range(300)]
    for start in range(0, len(events), 30):  # several transactions, keys interleaved
        await db.store(events[start : start + 30], topic=topic)
    small = FAST.model_copy(update={"batch_size": 7})
    services = [support.unique("svc"), support.unique("svc")]
    relays = [
        OutboxRelay(db.engine, db.outbox, JitteryProducer(producer), small, service=service)
        for service in services
    ]

    async with relays[0], relays[1]:
        await eventually(lambda: _none_pending(relays[0]), timeout=60, what="the outbox to drain")
        assert all(r.running for r in relays)

    records = await support.records_with(kafka, topic, len(events))
    assert Counter(support.event_ids(records)) == {str(e.id): 1 for e in events}
    sequence_per_key: dict[bytes, list[str]] = defaultdict(list)
    for record in records:  # offset order within each partition; a key has one partition
        sequence_per_key[record.key].append(support.header(record, "id") or "")
    for key in keys:
        emitted = [str(e.id) for e in events if e.payload.order_id == key]
        assert sequence_per_key[str(key).encode()] == emitted
    assert all(row["attempts"] == 0 for row in await db.outbox_rows())
    shares = [
        sample("outbox_publish_total", {"service": s, "outcome": "published"}) for s in services
    ]
    assert sum(shares) == len(events)
    assert all(share > 0 for share in shares), shares


class JitteryProducer:
    """The real producer, with a random pause before each send, so relays' sends interleave."""

    def __init__(self, producer: IdempotentProducer) -> None:
        self._producer = producer

    async def send_and_wait(
        self, topic: str, value: bytes, *, key: bytes | None, headers: Headers
    ) -> RecordMetadata:
        await asyncio.sleep(random.uniform(0, 0.005))
        return await self._producer.send_and_wait(topic, value, key=key, headers=headers)


async def _none_pending(relay: OutboxRelay) -> bool | None:
    return True if await relay.refresh_pending() == 0 else None


async def test_retention_deletes_published_rows_past_it_only(
    db: Database, producer: IdempotentProducer
) -> None:
    old, recent, unpublished = support.completed(), support.completed(), support.completed()
    await db.store([old, recent, unpublished], topic="unused")
    now = datetime.now(UTC)
    o = db.outbox
    async with db.engine.begin() as conn:
        for event, published_at in ((old, now - timedelta(days=8)), (recent, now)):
            await conn.execute(
                update(o).where(o.c.event_id == event.id).values(published_at=published_at)
            )
        await conn.execute(
            update(o)
            .where(o.c.event_id == unpublished.id)
            .values(created_at=now - timedelta(days=30))
        )
    settings = FAST.model_copy(update={"retention": timedelta(days=7)})
    purger = OutboxRelay(db.engine, o, producer, settings, service="orders-test")

    assert await purger.purge_published() == 1
    assert {row["event_id"] for row in await db.outbox_rows()} == {recent.id, unpublished.id}
    assert await purger.purge_published() == 0


async def test_a_failed_publish_backs_off_its_row_and_holds_its_key_only(
    db: Database, topic: str, kafka: str
) -> None:
    """A row for a topic the broker refuses to create fails; its key waits, others go on."""
    impatient = support.kafka_settings(kafka, request_timeout_ms=1_000)
    missing = f"test.relay-missing.{uuid.uuid4().hex[:10]}"
    blocked_key, free_key = uuid.uuid4(), uuid.uuid4()
    first, second = support.completed(blocked_key), support.cancelled(blocked_key)
    other = support.completed(free_key)
    await db.store([first, second], topic=missing)
    await db.store([other], topic=topic)
    producer = await start_producer(impatient)
    try:
        the_relay = relay(db, producer, service=support.unique("svc"))
        started = datetime.now(UTC)

        assert await the_relay.run_once() == 1
        rows = {row["event_id"]: row for row in await db.outbox_rows()}
        assert rows[other.id]["published_at"] is not None
        failed = rows[first.id]
        assert failed["published_at"] is None
        assert failed["attempts"] == 1
        assert "UnknownTopicOrPartitionError" in str(failed["last_error"])
        next_attempt = failed["next_attempt_at"]
        assert isinstance(next_attempt, datetime)
        assert started + timedelta(milliseconds=50) <= next_attempt
        assert next_attempt <= datetime.now(UTC) + FAST.backoff_initial
        held = rows[second.id]
        assert (held["published_at"], held["attempts"], held["last_error"]) == (None, 0, None)
        assert support.event_ids(await support.read_topic(kafka, topic)) == [str(other.id)]

        # While the first row backs off, the second stays behind it.
        assert await the_relay.run_once() == 0

        await ensure_topics(impatient, [missing])
        async with db.engine.begin() as conn:
            await conn.execute(
                update(db.outbox)
                .where(db.outbox.c.event_id == first.id)
                .values(next_attempt_at=func.now())
            )
        assert await the_relay.run_once() == 2
        records = await support.records_with(kafka, missing, 2)
        assert support.event_ids(records) == [str(first.id), str(second.id)]
    finally:
        await producer.stop()


async def test_a_row_is_not_sent_before_its_next_attempt_is_due(
    db: Database, producer: IdempotentProducer
) -> None:
    event = support.completed()
    await db.store([event], topic="unused")
    o = db.outbox
    async with db.engine.begin() as conn:
        await conn.execute(
            update(o).values(next_attempt_at=func.now() + timedelta(hours=1), attempts=3)
        )
    assert await relay(db, producer, service="orders-test").run_once() == 0
    async with db.engine.connect() as conn:
        assert await conn.scalar(select(o.c.attempts)) == 3


async def _insert_raw(db: Database, event: Event, topic: str) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(db.outbox).values(
                event_id=event.id,
                topic=topic,
                key=event.aggregate_id,
                event_type=event.type,
                value=event.encode(),
            )
        )


async def test_run_loop_publishes_rows_committed_while_it_runs_and_stops_cleanly(
    db: Database, producer: IdempotentProducer, topic: str, kafka: str
) -> None:
    the_relay = relay(db, producer, service="orders-test")
    await the_relay.start()
    try:
        assert the_relay.running
        late = support.completed()
        await _insert_raw(db, late, topic)  # no trace headers stored: still publishable
        the_relay.wake()
        records = await support.records_with(kafka, topic, 1)
    finally:
        await asyncio.wait_for(the_relay.stop(), timeout=5)
    assert not the_relay.running
    assert support.event_ids(records) == [str(late.id)]
    # With no stored context the relay's own span starts the trace: none when tracing is off
    # (the no-op provider), a fresh W3C traceparent once a process has configured tracing.
    traceparent = support.header(records[0], "traceparent")
    assert traceparent is None or re.fullmatch(
        r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", traceparent
    )


async def test_rows_behind_a_backing_off_row_do_not_take_the_places_of_a_batch(
    db: Database, producer: IdempotentProducer, topic: str, kafka: str
) -> None:
    stuck_key = uuid.uuid4()
    stuck = [
        support.completed(stuck_key),
        support.cancelled(stuck_key),
        support.completed(stuck_key),
    ]
    free = support.completed()
    await db.store(stuck, topic=topic)
    await db.store([free], topic=topic)
    async with db.engine.begin() as conn:
        await conn.execute(
            update(db.outbox)
            .where(db.outbox.c.event_id == stuck[0].id)
            .values(attempts=1, next_attempt_at=func.now() + timedelta(hours=1))
        )
    two_at_a_time = FAST.model_copy(update={"batch_size": 2})
    the_relay = OutboxRelay(db.engine, db.outbox, producer, two_at_a_time, service="orders-test")

    assert await the_relay.run_once() == 1
    assert support.event_ids(await support.read_topic(kafka, topic)) == [str(free.id)]
