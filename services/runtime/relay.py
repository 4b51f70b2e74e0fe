"""The outbox relay: publishes the events the unit of work stored, in order, at least once.

Every service runs it in the background of its API process (each replica may run one). A
relay claims due rows with ``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent relays share
the work and never send one row at the same time; sends them with the idempotent producer;
and marks them published in the claiming transaction. A row is sent twice only when a relay
dies between Kafka's acknowledgement and that commit, and the consumers' inbox absorbs that.

Per-key order (one order's events): a key's rows in a batch are sent one after the other, each
once the previous one is acknowledged; a failed row stops its key for the batch and backs off,
and a row whose key has an earlier unpublished row that is backing off, or claimed by another
relay, is left for later. Other keys are not held up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from opentelemetry import propagate, trace
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import (
    ARRAY,
    BigInteger,
    DateTime,
    String,
    Table,
    all_,
    any_,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.runtime.kafka import BackgroundWorker, Publisher, encode_headers, retry_delay
from services.runtime.settings import OutboxSettings

logger = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

OUTBOX_PENDING = Gauge("outbox_pending", "Outbox rows not yet published.", ["service"])
OUTBOX_PUBLISH_LAG = Histogram(
    "outbox_publish_lag_seconds",
    "Time from an event's commit to the outbox until Kafka acknowledged it.",
    ["service"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600),
)
OUTBOX_PUBLISH = Counter(
    "outbox_publish", "Outbox rows sent to Kafka, by outcome.", ["service", "outcome"]
)

PURGE_CHUNK = 5_000  # rows deleted per transaction, so retention never holds a long lock
RELAY_FAILURE_BACKOFF_MAX = timedelta(seconds=30)  # when a whole cycle fails (database down)


@dataclass(frozen=True)
class OutboxRecord:
    """One claimed outbox row, as the relay needs it."""

    id: int
    event_id: uuid.UUID
    topic: str
    key: str
    event_type: str
    value: bytes
    headers: Mapping[str, str]
    created_at: datetime
    attempts: int


AfterSend = Callable[[Sequence[OutboxRecord]], Awaitable[None]]


def message_headers(record: OutboxRecord) -> dict[str, str]:
    """The Kafka headers of a row: the stored ones (trace context) plus id, type, correlationId.

    ``id`` and ``type`` come from the row's columns and win over stored values.
    """
    headers = {key: str(value) for key, value in record.headers.items()}
    if "correlationId" not in headers:
        correlation_id = _correlation_id(record.value)
        if correlation_id:
            headers["correlationId"] = correlation_id
    headers["id"] = str(record.event_id)
    headers["type"] = record.event_type
    return headers


def _correlation_id(value: bytes) -> str | None:
    try:
        envelope = json.loads(value)
    except ValueError:
        return None
    found = envelope.get("correlationId") if isinstance(envelope, dict) else None
    return found if isinstance(found, str) else None


def publishable(
    claimed: Sequence[OutboxRecord], earliest_elsewhere: Mapping[str, int]
) -> list[list[OutboxRecord]]:
    """The claimed rows that may go out now: one chain per key, in id order.

    ``earliest_elsewhere`` maps a key to its first unpublished row outside this claim (another
    relay holds it); this claim's rows of that key after it must wait for it.
    """
    chains: dict[str, list[OutboxRecord]] = {}
    for record in sorted(claimed, key=lambda r: r.id):
        barrier = earliest_elsewhere.get(record.key)
        if barrier is not None and barrier < record.id:
            continue
        chains.setdefault(record.key, []).append(record)
    return list(chains.values())


def describe_error(error: BaseException) -> str:
    text = str(error) or repr(error)
    return f"{type(error).__name__}: {text}"[:2000]


@dataclass
class _ChainResult:
    sent: list[OutboxRecord]
    failed: tuple[OutboxRecord, Exception] | None = None


class OutboxRelay(BackgroundWorker):
    """Drains one service's outbox table into Kafka; see the module docstring.

    ``run_once`` publishes one batch (tests call it); ``run(stop)`` loops, waking every
    ``settings.poll_interval`` (at once after a full batch, or after ``wake()``), refreshes the
    ``outbox_pending`` gauge and deletes published rows older than ``settings.retention``
    every ``purge_interval``. ``after_send`` is a test seam: it runs after a batch's sends are
    acknowledged and before they are marked published.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Table,
        producer: Publisher,
        settings: OutboxSettings,
        *,
        service: str,
        purge_interval: timedelta = timedelta(minutes=10),
        tracer: trace.Tracer | None = None,
        after_send: AfterSend | None = None,
        topic_prefix: str = "",
    ) -> None:
        super().__init__()
        self._topic_prefix = topic_prefix  # the outbox stores the contract's topic names
        self._engine = engine
        self._outbox = outbox
        self._producer = producer
        self._settings = settings
        self._service = service
        self._purge_interval = purge_interval.total_seconds()
        self._tracer = tracer or _tracer
        self._after_send = after_send
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Publish without waiting for the next poll, e.g. right after a commit with events."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        self._ready()
        logger.info("outbox relay for %s started", self._service)
        failures = 0
        next_gauge = next_purge = time.monotonic()
        while not stop.is_set():
            self._wake.clear()
            try:
                claimed, _ = await self._cycle()
                now = time.monotonic()
                if now >= next_gauge:
                    await self.refresh_pending()
                    next_gauge = now + 1.0
                if now >= next_purge:
                    await self.purge_published()
                    next_purge = now + self._purge_interval
                failures = 0
                full = claimed >= self._settings.batch_size
                delay = 0.0 if full else self._settings.poll_interval.total_seconds()
            except Exception:
                failures += 1
                delay = retry_delay(
                    failures,
                    initial=self._settings.poll_interval,
                    maximum=RELAY_FAILURE_BACKOFF_MAX,
                )
                logger.exception(
                    "outbox relay cycle failed (%d in a row); next try in %.1fs", failures, delay
                )
            if delay > 0:
                await self._idle(stop, delay)
        logger.info("outbox relay for %s stopped", self._service)

    async def run_once(self) -> int:
        """Claim, send and mark one batch; the number of rows published."""
        _, published = await self._cycle()
        return published

    async def refresh_pending(self) -> int:
        o = self._outbox
        async with self._engine.connect() as conn:
            count = await conn.scalar(
                select(func.count()).select_from(o).where(o.c.published_at.is_(None))
            )
        pending = int(count or 0)
        OUTBOX_PENDING.labels(self._service).set(pending)
        return pending

    async def purge_published(self) -> int:
        """Delete published rows older than the retention; the number deleted."""
        o = self._outbox
        total = 0
        while True:
            doomed = (
                select(o.c.id)
                .where(o.c.published_at < func.now() - self._settings.retention)
                .limit(PURGE_CHUNK)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            async with self._engine.begin() as conn:
                deleted = (await conn.execute(delete(o).where(o.c.id.in_(doomed)))).rowcount
            total += deleted
            if deleted < PURGE_CHUNK:
                if total:
                    logger.info("deleted %d published outbox rows past retention", total)
                return total

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _cycle(self) -> tuple[int, int]:
        """(rows claimed, rows published) for one batch, all in the claiming transaction."""
        async with self._engine.begin() as conn:
            claimed = await self._claim(conn)
            if not claimed:
                return 0, 0
            chains = publishable(claimed, await self._earliest_elsewhere(conn, claimed))
            results = await asyncio.gather(*(self._publish_chain(chain) for chain in chains))
            sent = [record for result in results for record in result.sent]
            failed = [result.failed for result in results if result.failed is not None]
            if self._after_send is not None:
                await self._after_send(sent)
            lags = await self._mark_published(conn, sent)
            delays = await self._back_off(conn, failed)
        for lag in lags:
            OUTBOX_PUBLISH_LAG.labels(self._service).observe(lag)
        OUTBOX_PUBLISH.labels(self._service, "published").inc(len(sent))
        OUTBOX_PUBLISH.labels(self._service, "failed").inc(len(failed))
        for (record, error), delay in zip(failed, delays, strict=True):
            logger.warning(
                "could not publish event %s (%s) to %s, attempt %d; retrying in %.1fs: %s",
                record.event_id,
                record.event_type,
                record.topic,
                record.attempts + 1,
                delay,
                describe_error(error),
                extra={"eventId": str(record.event_id), "eventType": record.event_type},
            )
        return len(claimed), len(sent)

    async def _claim(self, conn: AsyncConnection) -> list[OutboxRecord]:
        o = self._outbox
        earlier = o.alias("earlier")
        behind_backing_off_row = (
            select(earlier.c.id)
            .where(
                earlier.c.key == o.c.key,
                earlier.c.id < o.c.id,
                earlier.c.published_at.is_(None),
                earlier.c.next_attempt_at > func.now(),
            )
            .exists()
        )
        rows = await conn.execute(
            select(
                o.c.id,
                o.c.event_id,
                o.c.topic,
                o.c.key,
                o.c.event_type,
                o.c.value,
                o.c.headers,
                o.c.created_at,
                o.c.attempts,
            )
            .where(
                o.c.published_at.is_(None),
                o.c.next_attempt_at <= func.now(),
                ~behind_backing_off_row,
            )
            .order_by(o.c.id)
            .limit(self._settings.batch_size)
            .with_for_update(skip_locked=True, of=o)
        )
        return [OutboxRecord(**row._asdict()) for row in rows]

    async def _earliest_elsewhere(
        self, conn: AsyncConnection, claimed: Sequence[OutboxRecord]
    ) -> dict[str, int]:
        """Per claimed key, its first unpublished row before our last one that we did not claim."""
        o = self._outbox
        rows = await conn.execute(
            select(o.c.key, func.min(o.c.id))
            .where(
                o.c.key == any_(bindparam("keys", [r.key for r in claimed], ARRAY(String))),
                o.c.id != all_(bindparam("ids", [r.id for r in claimed], ARRAY(BigInteger))),
                o.c.id < max(r.id for r in claimed),
                o.c.published_at.is_(None),
            )
            .group_by(o.c.key)
        )
        return {row[0]: row[1] for row in rows}

    async def _publish_chain(self, chain: list[OutboxRecord]) -> _ChainResult:
        result = _ChainResult(sent=[])
        for record in chain:
            try:
                await self._send(record)
            except Exception as e:  # any failure backs the row off; its key waits for it
                result.failed = (record, e)
                break
            result.sent.append(record)
        return result

    async def _send(self, record: OutboxRecord) -> None:
        headers = message_headers(record)
        topic = self._topic_prefix + record.topic
        # The producer span continues the trace of the request that committed the event, and
        # its context replaces the stored one, so the consumer's span is its child.
        with self._tracer.start_as_current_span(
            f"send {topic}",
            context=propagate.extract(headers),
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": topic,
                "messaging.kafka.message.key": record.key,
                "messaging.message.id": str(record.event_id),
            },
        ) as span:
            if span.get_span_context().is_valid:
                headers.pop("traceparent", None)
                headers.pop("tracestate", None)
                propagate.inject(headers)
            await self._producer.send_and_wait(
                topic, record.value, key=record.key.encode(), headers=encode_headers(headers)
            )

    async def _mark_published(
        self, conn: AsyncConnection, sent: Sequence[OutboxRecord]
    ) -> list[float]:
        """Mark ``sent`` published now; the publish lag of each, in seconds."""
        if not sent:
            return []
        o = self._outbox
        rows = await conn.execute(
            update(o)
            .where(o.c.id == any_(bindparam("ids", [r.id for r in sent], ARRAY(BigInteger))))
            .values(published_at=func.clock_timestamp())
            .returning(o.c.created_at, o.c.published_at)
        )
        return [(published - created).total_seconds() for created, published in rows]

    async def _back_off(
        self, conn: AsyncConnection, failed: Sequence[tuple[OutboxRecord, Exception]]
    ) -> list[float]:
        """Schedule each failed row's next attempt; the delays chosen, in seconds."""
        o = self._outbox
        delays = []
        for record, error in failed:
            delay = retry_delay(
                record.attempts + 1,
                initial=self._settings.backoff_initial,
                maximum=self._settings.backoff_max,
            )
            await conn.execute(
                update(o)
                .where(o.c.id == record.id)
                .values(
                    attempts=o.c.attempts + 1,
                    next_attempt_at=func.clock_timestamp(type_=DateTime(timezone=True))
                    + timedelta(seconds=delay),
                    last_error=describe_error(error),
                )
            )
            delays.append(delay)
        return delays
