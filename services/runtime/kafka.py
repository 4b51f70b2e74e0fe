"""Kafka plumbing the outbox relay and the inbox consumers share, and the workers' lifecycle.

Every service builds its one producer here (idempotent, ``acks=all``: a retried send is written
once, and an acknowledged record survives a broker loss; renewed when aiokafka's idempotence
session breaks, which it does not recover from by itself), creates the topics it produces to and
consumes from at start-up (auto-creation is off on the brokers, so a typo cannot invent one),
and converts record headers between Kafka's ``[(str, bytes)]`` and plain dicts. The relay and
the consumer also share the retry delay and ``BackgroundWorker``, the start/stop shape a
FastAPI lifespan drives.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any, Protocol, Self

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    TopicAlreadyExistsError,
    UnknownProducerId,
    for_code,
)
from aiokafka.structs import RecordMetadata

from services.runtime.settings import KafkaSettings

logger = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]


class TopicSetupError(RuntimeError):
    """The topics a service needs could not be created or did not become usable."""


class Publisher(Protocol):
    """What the relay and the dead-lettering consumer need from a producer."""

    async def send_and_wait(
        self, topic: str, value: bytes, *, key: bytes | None, headers: Headers
    ) -> RecordMetadata: ...


# Errors after which aiokafka's idempotent producer never sends to that partition again: it
# does not reset its sequence numbers or producer id (aio-libs/aiokafka#1017), and a broker
# restart can cause them. Only a new producer (a new producer id) gets going again.
BROKEN_SESSION_ERRORS: tuple[type[Exception], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerFenced,
)


class IdempotentProducer:
    """The service's one producer: idempotent, ``acks=all``, every send bounded in time.

    Idempotence numbers each batch, so the producer's own retries never duplicate or reorder
    records within a partition; acks=all waits for every in-sync replica. aiokafka retries an
    idempotent batch until the broker takes it, so ``send_and_wait`` stops waiting after
    ``2 * request_timeout`` and raises ``KafkaTimeoutError`` (the batch may still be delivered
    later: the caller retries, and consumers' inboxes absorb a duplicate). After one of
    ``BROKEN_SESSION_ERRORS`` the underlying producer is replaced. Share one per process.
    """

    def __init__(self, settings: KafkaSettings, *, client_id: str | None = None) -> None:
        self._settings = settings
        self._client_id = client_id or settings.client_id
        self._ack_timeout = 2 * settings.request_timeout_ms / 1000
        self._producer: AIOKafkaProducer | None = None
        self._renewing = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self._producer is None:
            self._producer = await self._started_producer()

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
        await asyncio.gather(*self._retiring, return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def send_and_wait(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
    ) -> RecordMetadata:
        producer = self._producer
        if producer is None:
            raise RuntimeError("the producer is not started")
        try:
            async with asyncio.timeout(self._ack_timeout):
                delivery = await producer.send(topic, value, key=key, headers=headers)
                # Shielded: giving up waiting must not cancel the batch's future under aiokafka.
                delivery.add_done_callback(_consume_outcome)
                return await asyncio.shield(delivery)
        except TimeoutError as e:
            raise KafkaTimeoutError(
                f"{topic}: not acknowledged within {self._ack_timeout:.0f}s"
            ) from e
        except BROKEN_SESSION_ERRORS:
            await self._renew(producer)
            raise

    async def _started_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.bootstrap_servers,
            client_id=self._client_id,
            enable_idempotence=True,
            acks="all",
            request_timeout_ms=self._settings.request_timeout_ms,
            linger_ms=5,  # a few ms lets a relay batch share produce requests
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def _renew(self, broken: AIOKafkaProducer) -> None:
        async with self._renewing:
            if self._producer is not broken:
                return  # a concurrent send renewed it already
            logger.warning("the idempotent producer lost its session; starting a new one")
            self._producer = await self._started_producer()
        retiring = asyncio.create_task(_stop_quietly(broken, self._ack_timeout))
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)


def _consume_outcome(delivery: asyncio.Future[RecordMetadata]) -> None:
    """Retrieve a delivery nobody awaits any more, so its error is not reported as lost."""
    if not delivery.cancelled():
        delivery.exception()


async def _stop_quietly(producer: AIOKafkaProducer, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await producer.stop()
    except Exception as e:  # its pending batches fail; the callers retry them
        logger.info("the replaced producer stopped with %r", e)


async def start_producer(
    settings: KafkaSettings, *, client_id: str | None = None
) -> IdempotentProducer:
    if settings.startup_wait:
        await wait_for_cluster(settings)
    producer = IdempotentProducer(settings, client_id=client_id)
    await producer.start()
    return producer


async def wait_for_cluster(settings: KafkaSettings) -> None:
    """Return once a broker answers, waiting up to ``startup_wait``; TopicSetupError if none."""
    admin = await _started_admin(settings)
    await admin.close()


async def ensure_topics(settings: KafkaSettings, topics: Iterable[str]) -> None:
    """Create the missing ``topics`` with the configured partitions and replication.

    Safe to call from every replica at once: a topic another replica created meanwhile
    (TopicAlreadyExists) counts as created. Returns once each topic has a leader for every
    partition, so the first send or fetch does not race the broker.
    """
    wanted = sorted(set(topics))
    if not wanted:
        return
    try:
        admin = await _started_admin(settings)
    except KafkaError as e:
        raise TopicSetupError(f"could not set up topics {', '.join(wanted)}: {e!r}") from e
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in wanted if topic not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(topic, settings.topic_partitions, settings.topic_replication)
                    for topic in missing
                ]
            )
            _raise_for_creation_errors(response.topic_errors)
            logger.info("created Kafka topics %s", ", ".join(missing))
        await _wait_for_leaders(admin, wanted, timeout=settings.request_timeout_ms / 1000)
    except KafkaError as e:
        raise TopicSetupError(f"could not set up topics {', '.join(wanted)}: {e!r}") from e
    finally:
        await admin.close()


async def _started_admin(settings: KafkaSettings) -> AIOKafkaAdminClient:
    """An admin client connected to the cluster, waiting up to ``startup_wait`` for a broker
    that is not reachable yet (a pod starting next to its Kafka, as on a first install)."""
    deadline = time.monotonic() + settings.startup_wait.total_seconds()
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=settings.client_id,
            request_timeout_ms=settings.request_timeout_ms,
        )
        try:
            await admin.start()
            return admin
        except KafkaConnectionError as e:
            await admin.close()
            if time.monotonic() >= deadline:
                raise TopicSetupError(
                    f"no Kafka broker answers at {settings.bootstrap_servers}: {e}"
                ) from e
            logger.warning("waiting for Kafka at %s (%s)", settings.bootstrap_servers, e)
            await asyncio.sleep(1)


def _raise_for_creation_errors(topic_errors: Sequence[Any]) -> None:
    """CreateTopics answers per topic; v0 has no message, later versions do."""
    problems = []
    for entry in topic_errors:
        topic, code = entry[0], int(entry[1])
        if code in (0, TopicAlreadyExistsError.errno):
            continue
        message = f": {entry[2]}" if len(entry) > 2 and entry[2] else ""
        problems.append(f"{topic}: {for_code(code).__name__}{message}")
    if problems:
        raise TopicSetupError("could not create topics: " + "; ".join(problems))


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topics: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        described = await admin.describe_topics(topics)
        pending = [
            topic["topic"]
            for topic in described
            if topic["error_code"] != 0
            or not topic["partitions"]
            or any(partition["leader"] < 0 for partition in topic["partitions"])
        ]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TopicSetupError(f"topics have no leader yet: {', '.join(pending)}")
        await asyncio.sleep(0.1)


def header_dict(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    """Record headers as text; a repeated key keeps its last value, as W3C propagators expect."""
    return {
        key: value.decode("utf-8", errors="replace") for key, value in headers if value is not None
    }


def encode_headers(headers: Mapping[str, str]) -> Headers:
    return [(key, value.encode()) for key, value in headers.items()]


def retry_delay(attempt: int, *, initial: timedelta, maximum: timedelta) -> float:
    """Seconds before retry ``attempt`` (1-based): doubling from ``initial``, capped at ``maximum``.

    The upper half is jittered, so replicas that failed together do not retry in lock step,
    and the delay never drops below half the nominal one.
    """
    exponent = min(max(attempt, 1) - 1, 62)
    ceiling = min(maximum.total_seconds(), initial.total_seconds() * 2**exponent)
    return random.uniform(ceiling / 2, ceiling)


class BackgroundWorker(abc.ABC):
    """A long-running loop with ``start``/``stop`` (or ``async with``) for an app's lifespan.

    Subclasses implement ``run(stop)``, call ``_ready()`` once set up, and return soon after
    ``stop`` is set. ``start`` returns when the worker is ready, raising its start-up error if
    it fails first; ``stop`` asks it to finish and waits, cancelling it after ``timeout``.
    """

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._stop_requested = asyncio.Event()
        self._ready_event = asyncio.Event()

    @abc.abstractmethod
    async def run(self, stop: asyncio.Event) -> None: ...

    def _ready(self) -> None:
        self._ready_event.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"{type(self).__name__} was already started")
        self._stop_requested = asyncio.Event()
        self._ready_event = asyncio.Event()
        task = asyncio.create_task(self.run(self._stop_requested), name=type(self).__name__)
        task.add_done_callback(_log_crash)
        self._task = task
        ready = asyncio.create_task(self._ready_event.wait())
        try:
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if task.done():
            self._task = None
            task.result()  # the start-up error, if any
            raise RuntimeError(f"{type(self).__name__} stopped before it was ready")

    async def stop(self, timeout: float = 30.0) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stop_requested.set()
        # A crash of run() was logged when it happened (_log_crash); stopping does not raise it.
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            logger.warning("%s did not stop within %.0fs; cancelling it", task.get_name(), timeout)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s stopped with an error", task.get_name(), exc_info=task.exception())
