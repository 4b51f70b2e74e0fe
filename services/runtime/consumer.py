"""Inbox consumers: apply each Kafka event once, and dead-letter what cannot be applied.

Services (and the saga bridge) run one per consumer group next to their API. For each record,
in partition order: decode it, then in one unit of work insert the inbox row and run the
handler, commit, and only then commit the Kafka offset. A redelivered event finds its inbox
row and is skipped, so at-least-once delivery has exactly-once effects. A record that can never
be applied (invalid, ``PermanentEventError``, or still failing after the retries) goes to the
group's dead-letter topic with the reason in its headers; nothing is dropped silently.

The retry budget is the event's, not the infrastructure's: while what the handler needs is
down (its database refuses connections, the Kubernetes API answers 5xx), the record is
retried with capped backoff for as long as the outage lasts, and the partition waits. A
Postgres restart longer than the budget used to dead-letter good events (the chaos run).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any, Generic, Literal, Protocol, Self, TypeVar

import asyncpg
import sqlalchemy.exc
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from prometheus_client import Counter

from services.runtime.events import Event, InvalidEvent, dead_letter_topic, decode
from services.runtime.kafka import (
    BackgroundWorker,
    Headers,
    Publisher,
    ensure_topics,
    header_dict,
    retry_delay,
)
from services.runtime.settings import ConsumerSettings, KafkaSettings

logger = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

CONSUMER_EVENTS = Counter(
    "consumer_events",
    "Events taken from Kafka by inbox consumers, by outcome.",
    ["group", "type", "outcome"],
)
CONSUMER_DEAD_LETTERS = Counter(
    "consumer_dead_letters",
    "Records sent to a dead-letter topic, by reason.",
    ["group", "topic", "reason"],
)

DEAD_LETTER_REASONS = ("invalid", "permanent", "exhausted")  # unreadable, refused, retried out
FETCH_BACKOFF_MAX = timedelta(seconds=30)  # between failed polls (broker unreachable)


class Inbox(Protocol):
    """What a consumer needs of a unit of work: ``UnitOfWork``, or a store-less stand-in for a
    consumer whose effects are idempotent by themselves (the saga bridge's Kubernetes writes)."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def mark_processed(self, consumer_group: str, event: Event) -> bool: ...

    async def commit(self) -> None: ...


U = TypeVar("U", bound=Inbox)
Handler = Callable[[Event, U], Awaitable[None]]
DeadLetterReason = Literal["invalid", "permanent", "exhausted"]
Outcome = Literal["processed", "duplicate", "dead_lettered"]


class PermanentEventError(Exception):
    """Raised by a handler when retrying cannot help; the event goes to the dead-letter topic.

    For example, an event that contradicts the service's state in a way no later delivery
    will change. Any other exception is treated as transient and retried.
    """


Outage = Callable[[BaseException], bool]


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` says a dependency is unreachable rather than that the event is bad:
    a refused, reset or timed-out connection anywhere in its chain, or a database that is not
    accepting connections yet (SQLAlchemy wraps the driver's error; asyncpg's is an OSError
    or a PostgresConnectionError)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError | TimeoutError | asyncpg.PostgresConnectionError):
            return True
        if isinstance(current, asyncpg.CannotConnectNowError | asyncpg.InterfaceError):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


class _Abandoned(Exception):
    """The consumer is stopping or losing the partition: leave the record for redelivery."""


def dead_letter_headers(
    record: ConsumerRecord, *, reason: DeadLetterReason, error: BaseException, attempts: int
) -> Headers:
    """The original headers plus why and where from, so the record can be inspected and replayed."""
    text = str(error) or repr(error)
    return [
        *(record.headers or ()),
        ("dlq.error", f"{type(error).__name__}: {text}"[:4000].encode()),
        ("dlq.reason", reason.encode()),
        ("dlq.original-topic", record.topic.encode()),
        ("dlq.original-partition", str(record.partition).encode()),
        ("dlq.original-offset", str(record.offset).encode()),
        ("dlq.attempts", str(attempts).encode()),
    ]


class InboxConsumer(BackgroundWorker, Generic[U]):
    """One consumer group over ``topics``, applying events with ``handler`` in a unit of work.

    ``unit_of_work`` makes a fresh (unentered) unit of work per attempt; ``handler(event, uow)``
    does the effect in it and may ``uow.emit`` events (the consumer commits). ``producer`` sends
    dead letters (share the service's producer). ``start``/``stop`` or ``async with`` run it in
    the background; stopping finishes and commits the record in hand, then leaves the group.
    """

    def __init__(
        self,
        *,
        topics: Sequence[str],
        group: str,
        handler: Handler[U],
        unit_of_work: Callable[[], U],
        producer: Publisher,
        kafka: KafkaSettings,
        settings: ConsumerSettings,
        poll_timeout: timedelta = timedelta(milliseconds=500),
        tracer: trace.Tracer | None = None,
        outage: Outage = is_outage,
    ) -> None:
        super().__init__()
        if not topics:
            raise ValueError("an inbox consumer needs at least one topic")
        self.topics = tuple(kafka.topic(t) for t in topics)  # the contracts' names, prefixed
        self.group = group
        for topic in self.topics:  # a zero from the start: an alert sees the first dead letter
            for reason in DEAD_LETTER_REASONS:
                CONSUMER_DEAD_LETTERS.labels(group, topic, reason)
        self._handler = handler
        self._unit_of_work = unit_of_work
        self._producer = producer
        self._kafka = kafka
        self._settings = settings
        self._poll_timeout_ms = int(poll_timeout.total_seconds() * 1000)
        self._tracer = tracer or _tracer
        self._outage = outage
        # Held while a record is processed and committed; a rebalance waits for it, so the
        # partitions we give up have every finished record committed.
        self._record_lock = asyncio.Lock()
        self._revoking = asyncio.Event()
        self._generation = 0
        self._unpinned: set[TopicPartition] = set()
        self._starts: dict[TopicPartition, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        await ensure_topics(
            self._kafka, [*self.topics, *(dead_letter_topic(t, self.group) for t in self.topics)]
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._kafka.bootstrap_servers,
            client_id=f"{self._kafka.client_id}-{self.group}",
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset=self._settings.auto_offset_reset,
        )
        consumer.subscribe(list(self.topics), listener=_Rebalance(self))
        await consumer.start()
        try:
            self._ready()
            logger.info("consumer group %s started on %s", self.group, ", ".join(self.topics))
            failures = 0
            while not stop.is_set():
                try:
                    await self._pin_start_offsets(consumer)
                    batch = await consumer.getmany(timeout_ms=self._poll_timeout_ms)
                    await self._consume_batch(consumer, batch, stop)
                    failures = 0
                except KafkaError:
                    # Keep consuming: a stopped consumer would go unnoticed in a live process.
                    failures += 1
                    pause = retry_delay(
                        failures, initial=self._settings.backoff_initial, maximum=FETCH_BACKOFF_MAX
                    )
                    logger.exception("consumer group %s: fetch failed; retrying", self.group)
                    await _wait(stop, pause)
        finally:
            await consumer.stop()
            logger.info("consumer group %s stopped", self.group)

    async def _consume_batch(
        self,
        consumer: AIOKafkaConsumer,
        batch: dict[TopicPartition, list[ConsumerRecord]],
        stop: asyncio.Event,
    ) -> None:
        generation = self._generation
        for tp, records in batch.items():
            for record in records:
                if stop.is_set():
                    return  # uncommitted records are redelivered to the next owner
                async with self._record_lock:
                    if generation != self._generation:
                        return  # a rebalance happened: the new owner resumes from the commits
                    try:
                        await self._process(record, stop)
                    except _Abandoned:
                        return
                    except Exception:
                        # Only the dead-letter send can land here (Kafka unreachable): read
                        # the record again after a pause, never skip it.
                        logger.exception(
                            "could not finish record %s[%d]@%d; it will be retried",
                            record.topic,
                            record.partition,
                            record.offset,
                        )
                        consumer.seek(tp, record.offset)
                        pause = self._settings.backoff_max.total_seconds()
                        if await _wait(stop, pause, self._revoking):
                            return
                        break
                    await self._commit(consumer, tp, record.offset + 1)

    async def _pin_start_offsets(self, consumer: AIOKafkaConsumer) -> None:
        """Commit the position of each newly assigned partition the group never committed.

        Until a group commits, ``auto_offset_reset=latest`` means "the end, whenever the next
        member looks": a member dying before its first commit would make its successor skip
        every event that arrived in between. Pinned, the successor starts where this one did.
        """
        if not self._unpinned:
            return
        for tp in sorted(self._unpinned, key=lambda tp: (tp.topic, tp.partition)):
            if tp in consumer.assignment():
                position = await consumer.position(tp)
                if await consumer.committed(tp) is None:
                    await consumer.commit({tp: position})
                self._starts[tp] = position
            self._unpinned.discard(tp)  # after success only: a KafkaError retries it
        # Said once every start is fixed: from here on, nothing published is skipped.
        logger.info("consumer group %s now reads %s", self.group, _positions(self._starts))
        self._starts.clear()

    async def _commit(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        try:
            await consumer.commit({tp: offset})
        except (CommitFailedError, IllegalStateError, KafkaError) as e:
            # The effect is stored: whoever reads the partition next gets the record again,
            # and the inbox absorbs it (e.g. the partition moved to another member).
            logger.warning("could not commit %s@%d: %r", tp, offset, e)

    async def _process(self, record: ConsumerRecord, stop: asyncio.Event) -> None:
        headers = header_dict(record.headers or ())
        try:
            event = decode(record.value)
        except InvalidEvent as e:
            await self._dead_letter(record, None, reason="invalid", error=e, attempts=0)
            return
        with self._span(record, headers, event):
            attempt = 0
            while True:
                attempt += 1
                try:
                    outcome = await self._apply(event)
                except PermanentEventError as e:
                    await self._dead_letter(
                        record, event, reason="permanent", error=e, attempts=attempt
                    )
                    return
                except Exception as e:
                    if self._outage(e):
                        attempt = min(attempt, self._settings.max_attempts - 1)  # not its fault
                    elif attempt >= self._settings.max_attempts:
                        await self._dead_letter(
                            record, event, reason="exhausted", error=e, attempts=attempt
                        )
                        return
                    delay = retry_delay(
                        attempt,
                        initial=self._settings.backoff_initial,
                        maximum=self._settings.backoff_max,
                    )
                    logger.warning(
                        "handling %s %s failed (attempt %d of %d); retrying in %.2fs: %r",
                        event.type,
                        event.id,
                        attempt,
                        self._settings.max_attempts,
                        delay,
                        e,
                        extra=_log_fields(event),
                    )
                    if await _wait(stop, delay, self._revoking):
                        raise _Abandoned from e
                    continue
                CONSUMER_EVENTS.labels(self.group, event.type, outcome).inc()
                return

    async def _apply(self, event: Event) -> Outcome:
        async with self._unit_of_work() as uow:
            if not await uow.mark_processed(self.group, event):
                return "duplicate"
            await self._handler(event, uow)
            await uow.commit()
        return "processed"

    async def _dead_letter(
        self,
        record: ConsumerRecord,
        event: Event | None,
        *,
        reason: DeadLetterReason,
        error: BaseException,
        attempts: int,
    ) -> None:
        topic = dead_letter_topic(record.topic, self.group)
        await self._producer.send_and_wait(
            topic,
            record.value if record.value is not None else b"",
            key=record.key,
            headers=dead_letter_headers(record, reason=reason, error=error, attempts=attempts),
        )
        CONSUMER_DEAD_LETTERS.labels(self.group, record.topic, reason).inc()
        CONSUMER_EVENTS.labels(
            self.group, event.type if event else "unknown", "dead_lettered"
        ).inc()
        logger.error(
            "dead-lettered %s %s from %s[%d]@%d to %s (%s after %d attempts): %s: %s",
            event.type if event else "invalid record",
            event.id if event else "",
            record.topic,
            record.partition,
            record.offset,
            topic,
            reason,
            attempts,
            type(error).__name__,
            error,
            extra=_log_fields(event) if event else {},
        )

    @contextlib.contextmanager
    def _span(
        self, record: ConsumerRecord, headers: dict[str, str], event: Event
    ) -> Iterator[None]:
        """A CONSUMER span continuing the producer's trace (W3C traceparent in the headers)."""
        parent: Context = propagate.extract(headers)
        with self._tracer.start_as_current_span(
            f"process {record.topic}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": record.topic,
                "messaging.consumer.group.name": self.group,
                "messaging.destination.partition.id": str(record.partition),
                "messaging.kafka.offset": record.offset,
                "messaging.message.id": str(event.id),
                "kubesaga.event.type": event.type,
            },
        ):
            yield

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        self._revoking.set()  # a record waiting to retry gives up and stays uncommitted
        try:
            async with self._record_lock:
                self._generation += 1
        finally:
            self._revoking.clear()
        if revoked:
            logger.info("consumer group %s gives up %s", self.group, _partitions(revoked))


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: InboxConsumer[Any]) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._consumer._on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        # Pinned (and announced) by the poll loop: resolving a position here would wait on
        # the rebalance this callback is part of.
        self._consumer._unpinned |= assigned
        if not assigned:
            logger.info("consumer group %s now reads nothing", self._consumer.group)


def _positions(starts: dict[TopicPartition, int]) -> str:
    found = sorted((tp.topic, tp.partition, offset) for tp, offset in starts.items())
    return (
        ", ".join(f"{topic}[{partition}]@{offset}" for topic, partition, offset in found)
        or "nothing"
    )


def _partitions(tps: set[TopicPartition]) -> str:
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)) or "nothing"


def _log_fields(event: Event) -> dict[str, str]:
    return {
        "eventId": str(event.id),
        "eventType": event.type,
        "orderId": event.aggregate_id,
        "correlationId": event.correlation_id,
    }


async def _wait(stop: asyncio.Event, seconds: float, *others: asyncio.Event) -> bool:
    """Sleep up to ``seconds``; True at once if ``stop`` or one of ``others`` is set."""
    events = (stop, *others)
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return any(event.is_set() for event in events)
