"""Inbox consumers on the real Kafka and Postgres: one effect per event, dead letters, offsets."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from services.runtime.consumer import InboxConsumer, PermanentEventError
from services.runtime.events import Event, dead_letter_topic
from services.runtime.kafka import (
    IdempotentProducer,
    TopicSetupError,
    ensure_topics,
    start_producer,
)
from services.runtime.settings import ConsumerSettings, KafkaSettings
from services.runtime.uow import UnitOfWork
from tests.integration.runtime import kafka_support as support
from tests.integration.runtime.kafka_support import Database
from tests.support import eventually

RETRY_FAST = ConsumerSettings(
    max_attempts=3,
    backoff_initial=timedelta(milliseconds=10),
    backoff_max=timedelta(milliseconds=50),
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
    return await support.new_topic(settings, "consumer")


@pytest.fixture
def group() -> str:
    return support.unique("group")


Handler = Callable[[Event, UnitOfWork], Awaitable[None]]


class Recorder:
    """The test's handler: applies the effect, remembering each call; some events misbehave."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.calls: list[uuid.UUID] = []
        self.behaviour: dict[uuid.UUID, Handler] = {}

    async def __call__(self, event: Event, uow: UnitOfWork) -> None:
        self.calls.append(event.id)
        await self.db.apply(event, uow)  # written, then rolled back if the behaviour raises
        special = self.behaviour.get(event.id)
        if special is not None:
            await special(event, uow)


def consumer_of(
    db: Database,
    handler: Handler,
    *,
    topic: str,
    group: str,
    producer: IdempotentProducer,
    settings: KafkaSettings,
    retries: ConsumerSettings = RETRY_FAST,
    tracer: trace.Tracer | None = None,
) -> InboxConsumer[UnitOfWork]:
    return InboxConsumer(
        topics=[topic],
        group=group,
        handler=handler,
        unit_of_work=db.uow,
        producer=producer,
        kafka=settings,
        settings=retries,
        poll_timeout=timedelta(milliseconds=100),
        tracer=tracer,
    )


async def send(
    producer: IdempotentProducer, topic: str, event: Event, headers: dict[str, str] | None = None
) -> None:
    extra = [(k, v.encode()) for k, v in (headers or {}).items()]
    await producer.send_and_wait(
        topic,
        event.encode(),
        key=event.aggregate_id.encode(),
        headers=[("id", str(event.id).encode()), ("type", event.type.encode()), *extra],
    )


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def reached(name: str, value: float, **labels: str) -> bool | None:
    return True if count(name, **labels) >= value else None


async def processed(group: str, total: int, *, what: str) -> None:
    """Wait until `group` has processed `total` order.completed events."""
    await eventually(
        lambda: reached(
            "consumer_events_total", total, group=group, type="order.completed", outcome="processed"
        ),
        what=what,
    )


async def committed_offsets(kafka: str, group: str, topic: str) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return {p: await consumer.committed(TopicPartition(topic, p)) for p in range(3)}
    finally:
        await consumer.stop()


async def end_offsets(kafka: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(3)])
        return {tp.partition: end for tp, end in ends.items()}
    finally:
        await consumer.stop()


async def test_a_duplicated_delivery_has_one_effect(
    db: Database,
    producer: IdempotentProducer,
    settings: KafkaSettings,
    topic: str,
    group: str,
    kafka: str,
) -> None:
    twice, once = support.completed(), support.completed()
    for event in (twice, twice, once):
        await send(producer, topic, event)
    handler = Recorder(db)

    async with consumer_of(
        db, handler, topic=topic, group=group, producer=producer, settings=settings
    ):
        await eventually(
            lambda: reached(
                "consumer_events_total", 1, group=group, type=twice.type, outcome="duplicate"
            ),
            what="the duplicate to be seen",
        )
        await eventually(
            lambda: reached(
                "consumer_events_total", 2, group=group, type=twice.type, outcome="processed"
            ),
            what="both events to be processed",
        )

    assert await db.effect_counts() == {twice.id: 1, once.id: 1}
    assert sorted(handler.calls) == sorted([twice.id, once.id])  # the duplicate never ran
    assert await committed_offsets(kafka, group, topic) == await end_offsets(kafka, topic)


async def test_unusable_records_go_to_the_dead_letter_topic_with_the_reason(
    db: Database,
    producer: IdempotentProducer,
    settings: KafkaSettings,
    topic: str,
    group: str,
    kafka: str,
) -> None:
    handler = Recorder(db)
    refused, flaky, fine = support.completed(), support.completed(), support.completed()

    async def refuse(event: Event, uow: UnitOfWork) -> None:
        raise PermanentEventError("order is unknown here")

    async def fail(event: Event, uow: UnitOfWork) -> None:
        # A failure of the event's own (a handler bug), not an outage: an unreachable
        # dependency is retried for as long as it lasts (tests/unit/runtime/test_outage.py).
        raise ValueError("cannot apply this one")

    handler.behaviour = {refused.id: refuse, flaky.id: fail}
    key = str(uuid.uuid4()).encode()
    await producer.send_and_wait(
        topic, b'{"id": "not an event"}', key=key, headers=[("type", b"order.created")]
    )
    await send(producer, topic, refused, {"traceparent": f"00-{'a' * 32}-{'b' * 16}-01"})
    await send(producer, topic, flaky)
    await send(producer, topic, fine)

    async with consumer_of(
        db, handler, topic=topic, group=group, producer=producer, settings=settings
    ):
        dead = await support.records_with(kafka, dead_letter_topic(topic, group), 3)
        await eventually(
            lambda: reached(
                "consumer_events_total", 1, group=group, type=fine.type, outcome="processed"
            ),
            what="the good event to be processed",
        )

    by_reason = {support.header(r, "dlq.reason"): r for r in dead}
    assert set(by_reason) == {"invalid", "permanent", "exhausted"}
    invalid = by_reason["invalid"]
    assert (invalid.key, invalid.value) == (key, b'{"id": "not an event"}')
    assert support.header(invalid, "type") == "order.created"  # original headers kept
    assert support.header(invalid, "dlq.attempts") == "0"
    assert (support.header(invalid, "dlq.error") or "").startswith("InvalidEvent: ")
    permanent = by_reason["permanent"]
    assert permanent.value == refused.encode()
    assert permanent.key == refused.aggregate_id.encode()
    assert support.header(permanent, "id") == str(refused.id)
    assert support.header(permanent, "traceparent") == f"00-{'a' * 32}-{'b' * 16}-01"
    assert support.header(permanent, "dlq.error") == "PermanentEventError: order is unknown here"
    assert support.header(permanent, "dlq.attempts") == "1"
    exhausted = by_reason["exhausted"]
    assert support.header(exhausted, "id") == str(flaky.id)
    assert support.header(exhausted, "dlq.error") == "ValueError: cannot apply this one"
    assert support.header(exhausted, "dlq.attempts") == str(RETRY_FAST.max_attempts)
    for record in dead:
        assert support.header(record, "dlq.original-topic") == topic
        original = await support.read_topic(kafka, topic)
        assert any(
            (str(o.partition), str(o.offset))
            == (
                support.header(record, "dlq.original-partition"),
                support.header(record, "dlq.original-offset"),
            )
            and o.value == record.value
            for o in original
        )

    assert handler.calls.count(flaky.id) == RETRY_FAST.max_attempts
    assert handler.calls.count(refused.id) == 1
    assert await db.effect_counts() == {fine.id: 1}  # the failed attempts left nothing behind
    for reason in ("invalid", "permanent", "exhausted"):
        assert count("consumer_dead_letters_total", group=group, topic=topic, reason=reason) == 1
    assert await committed_offsets(kafka, group, topic) == await end_offsets(kafka, topic)


async def test_a_restarted_consumer_resumes_after_the_committed_records(
    db: Database,
    producer: IdempotentProducer,
    settings: KafkaSettings,
    topic: str,
    group: str,
) -> None:
    earlier = [support.completed() for _ in range(3)]
    for event in earlier:
        await send(producer, topic, event)
    handler = Recorder(db)

    def consumer() -> InboxConsumer[UnitOfWork]:
        return consumer_of(
            db, handler, topic=topic, group=group, producer=producer, settings=settings
        )

    async with consumer():
        await processed(group, 3, what="the first events")
    later = support.completed()
    await send(producer, topic, later)
    async with consumer():
        await processed(group, 4, what="the later event")

    assert sorted(handler.calls[:3]) == sorted(e.id for e in earlier)
    assert handler.calls[3:] == [later.id]
    assert count("consumer_events_total", group=group, type=later.type, outcome="duplicate") == 0


async def test_a_new_group_reading_from_latest_keeps_its_start_across_members(
    db: Database,
    producer: IdempotentProducer,
    settings: KafkaSettings,
    topic: str,
    group: str,
) -> None:
    """A member that leaves before its first commit does not make the next one skip events."""
    from_latest = RETRY_FAST.model_copy(update={"auto_offset_reset": "latest"})
    before = support.completed()
    await send(producer, topic, before)  # history the new group is told to ignore
    handler = Recorder(db)

    def consumer() -> InboxConsumer[UnitOfWork]:
        return consumer_of(
            db,
            handler,
            topic=topic,
            group=group,
            producer=producer,
            settings=settings,
            retries=from_latest,
        )

    async def pinned() -> bool | None:
        offsets = await committed_offsets(settings.bootstrap_servers, group, topic)
        return True if all(o is not None for o in offsets.values()) else None

    async with consumer():
        await eventually(pinned, what="the start offsets to be committed")
    between = support.completed()
    await send(producer, topic, between)  # arrives while the group has no member
    async with consumer():
        await processed(group, 1, what="the event sent between the two members")

    assert handler.calls == [between.id]


async def test_a_record_abandoned_while_retrying_is_not_committed_and_comes_back(
    db: Database,
    producer: IdempotentProducer,
    settings: KafkaSettings,
    topic: str,
    group: str,
    kafka: str,
) -> None:
    """Stopping between retries leaves the offset where it was: no commit without the effect."""
    event = support.completed()
    await send(producer, topic, event)
    handler = Recorder(db)

    async def not_yet(event: Event, uow: UnitOfWork) -> None:
        raise ConnectionError("database busy")

    handler.behaviour[event.id] = not_yet
    patient = ConsumerSettings(
        max_attempts=5, backoff_initial=timedelta(seconds=30), backoff_max=timedelta(seconds=30)
    )
    first = consumer_of(
        db, handler, topic=topic, group=group, producer=producer, settings=settings, retries=patient
    )
    await first.start()
    await eventually(lambda: _called(handler, event.id), what="the first attempt")
    await asyncio.wait_for(first.stop(), timeout=10)  # does not sit out the 30 s backoff
    assert await db.effect_counts() == {}
    assert set((await committed_offsets(kafka, group, topic)).values()) == {0}  # the start only

    handler.behaviour.clear()
    async with consumer_of(
        db, handler, topic=topic, group=group, producer=producer, settings=settings
    ):
        await eventually(
            lambda: reached(
                "consumer_events_total", 1, group=group, type=event.type, outcome="processed"
            ),
            what="the redelivered event",
        )
    assert await db.effect_counts() == {event.id: 1}
    assert handler.calls == [event.id, event.id]


async def _called(handler: Recorder, event_id: uuid.UUID) -> bool | None:
    return True if event_id in handler.calls else None


async def test_stopping_finishes_and_commits_the_record_in_hand(
    db: Database,
    producer: IdempotentProducer,
    settings: KafkaSettings,
    topic: str,
    group: str,
    kafka: str,
) -> None:
    event = support.completed()
    await send(producer, topic, event)
    handler = Recorder(db)
    release = asyncio.Event()

    async def slow(event: Event, uow: UnitOfWork) -> None:
        await release.wait()

    handler.behaviour[event.id] = slow
    the_consumer = consumer_of(
        db, handler, topic=topic, group=group, producer=producer, settings=settings
    )
    await the_consumer.start()
    await eventually(lambda: _called(handler, event.id), what="the handler to start")
    stopping = asyncio.create_task(the_consumer.stop())
    await asyncio.sleep(0.3)
    assert not stopping.done()  # it waits for the record in hand
    release.set()
    await asyncio.wait_for(stopping, timeout=10)

    assert await db.effect_counts() == {event.id: 1}
    assert await committed_offsets(kafka, group, topic) == await end_offsets(kafka, topic)


async def test_the_handler_runs_in_a_consumer_span_continuing_the_producers_trace(
    db: Database,
    producer: IdempotentProducer,
    settings: KafkaSettings,
    topic: str,
    group: str,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    event = support.completed()
    await send(producer, topic, event, {"traceparent": f"00-{trace_id}-{parent_id}-01"})
    seen: list[trace.SpanContext] = []

    async def handler(event: Event, uow: UnitOfWork) -> None:
        seen.append(trace.get_current_span().get_span_context())

    async with consumer_of(
        db,
        handler,
        topic=topic,
        group=group,
        producer=producer,
        settings=settings,
        tracer=provider.get_tracer("test"),
    ):
        await eventually(
            lambda: reached(
                "consumer_events_total", 1, group=group, type=event.type, outcome="processed"
            ),
            what="the event to be processed",
        )

    (span,) = exporter.get_finished_spans()
    assert span.kind is trace.SpanKind.CONSUMER
    assert span.name == f"process {topic}"
    assert f"{span.context.trace_id:032x}" == trace_id
    assert span.parent is not None and f"{span.parent.span_id:016x}" == parent_id
    assert span.attributes is not None and span.attributes["messaging.message.id"] == str(event.id)
    assert [s.span_id for s in seen] == [span.context.span_id]


async def test_two_members_of_a_group_share_the_partitions_and_apply_each_event_once(
    db: Database,
    producer: IdempotentProducer,
    settings: KafkaSettings,
    topic: str,
    group: str,
    kafka: str,
) -> None:
    events = [support.completed() for _ in range(60)]
    for event in events[:30]:
        await send(producer, topic, event)
    first, second = Recorder(db), Recorder(db)

    def member(handler: Recorder) -> InboxConsumer[UnitOfWork]:
        return consumer_of(
            db, handler, topic=topic, group=group, producer=producer, settings=settings
        )

    async with member(first):
        await eventually(lambda: _called(first, events[0].id), what="the first member to work")
        async with member(second):  # joining makes the group rebalance while records flow
            for event in events[30:]:
                await send(producer, topic, event)
            await eventually(
                lambda: _all_applied(db, events), timeout=60, what="every event to be applied"
            )

    assert await db.effect_counts() == {e.id: 1 for e in events}
    assert first.calls and second.calls  # both members did part of the work
    assert await committed_offsets(kafka, group, topic) == await end_offsets(kafka, topic)


async def _all_applied(db: Database, events: list[Event]) -> bool | None:
    return True if len(await db.effect_counts()) == len(events) else None


async def test_a_dead_letter_that_cannot_be_written_holds_its_record_until_it_can(
    db: Database,
    topic: str,
    group: str,
    kafka: str,
) -> None:
    """Nothing is dropped: while the dead-letter topic is gone, the record stays uncommitted."""
    impatient = support.kafka_settings(kafka, request_timeout_ms=1_000)
    dead_letters = dead_letter_topic(topic, group)
    producer = await start_producer(impatient)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        async with consumer_of(
            db, Recorder(db), topic=topic, group=group, producer=producer, settings=impatient
        ):
            await admin.delete_topics([dead_letters])
            await producer.send_and_wait(topic, b"garbage", key=b"k")
            await asyncio.sleep(2.5)  # two dead-letter sends time out meanwhile
            labels = {"group": group, "topic": topic, "reason": "invalid"}
            assert count("consumer_dead_letters_total", **labels) == 0
            assert set((await committed_offsets(kafka, group, topic)).values()) == {
                0
            }  # the start only

            await eventually(lambda: _recreated(impatient, dead_letters), what="the DLQ topic")
            dead = await support.records_with(kafka, dead_letters, 1)
            await eventually(lambda: reached("consumer_dead_letters_total", 1, **labels))
        assert [r.value for r in dead] == [b"garbage"]
        assert await committed_offsets(kafka, group, topic) == await end_offsets(kafka, topic)
    finally:
        await admin.close()
        await producer.stop()


async def _recreated(settings: KafkaSettings, topic: str) -> bool | None:
    """Deletion finishes in the background; creating too early is refused, so keep trying."""
    try:
        await ensure_topics(settings, [topic])
    except TopicSetupError:
        return None
    return True
