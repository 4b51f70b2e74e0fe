"""Wires orders together: engine, units of work, catalog client, Redis, workers, the HTTP app.

``create_app(settings)`` is the one way to get a running orders service: ``serve`` calls it,
and so do the tests and the bench that want it in-process. Its lifespan builds an ``Orders``
(engine, unit-of-work factory, the inventory catalog client with its retry policy and
Redis-shared circuit breaker, the idempotency store) and starts the ``Workers``: the outbox
relay and the saga-event consumer (sharing one Kafka producer), each switchable in the
settings; on shutdown they stop in reverse and the clients close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import Depends, FastAPI
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.orders.adapters import tables
from services.orders.adapters.catalog import InventoryCatalog
from services.orders.adapters.unit_of_work import OrdersUnitOfWork
from services.orders.domain.catalog import Catalog
from services.orders.domain.errors import OrdersError
from services.orders.entrypoints import api
from services.orders.entrypoints.consumers import SAGA_TOPICS, saga_event_consumer
from services.orders.settings import OrdersSettings
from services.runtime import db, observability, web
from services.runtime.circuit_breaker import CircuitBreaker
from services.runtime.events import ORDERS_TOPIC
from services.runtime.idempotency import IdempotencyStore
from services.runtime.idempotency_http import IdempotencyError, idempotency_error_handler
from services.runtime.kafka import (
    BackgroundWorker,
    IdempotentProducer,
    ensure_topics,
    start_producer,
)
from services.runtime.relay import OutboxRelay
from services.runtime.resilience import RetryPolicy

logger = logging.getLogger(__name__)


@dataclass
class Orders:
    """What every request and worker of one process shares; ``close`` releases it."""

    settings: OrdersSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    http: httpx.AsyncClient
    catalog: Catalog
    idempotency: IdempotencyStore
    on_commit: Callable[[], None] = field(default=lambda: None)  # wakes the relay

    def uow(self) -> OrdersUnitOfWork:
        return OrdersUnitOfWork(self.sessions)

    async def close(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()
        await self.engine.dispose()


def build(settings: OrdersSettings, *, catalog: Catalog | None = None) -> Orders:
    """The process's collaborators; ``catalog`` replaces the inventory client (tests)."""
    engine = db.create_engine(settings.db)
    redis = Redis.from_url(settings.redis.url)
    catalog_settings = settings.catalog
    client = httpx.AsyncClient(
        base_url=catalog_settings.base_url,
        timeout=httpx.Timeout(catalog_settings.timeout.total_seconds()),
        limits=httpx.Limits(max_connections=catalog_settings.max_connections),
    )
    catalog = catalog or InventoryCatalog(
        client,
        retry=RetryPolicy(
            attempts=catalog_settings.attempts,
            initial=catalog_settings.backoff_initial,
            maximum=catalog_settings.backoff_max,
        ),
        breaker=CircuitBreaker(
            redis,
            "inventory-catalog",
            namespace=settings.service_name,
            failure_threshold=catalog_settings.breaker_failure_threshold,
            reset_timeout=catalog_settings.breaker_reset_timeout,
        ),
    )
    idempotency = IdempotencyStore(
        redis, namespace=settings.service_name, ttl=settings.idempotency_ttl
    )
    return Orders(settings, engine, db.session_factory(engine), redis, client, catalog, idempotency)


class Workers:
    """The background half of ``serve``: outbox relay and saga-event consumer."""

    def __init__(self, orders: Orders) -> None:
        self._orders = orders
        self._producer: IdempotentProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None  # for readiness checks only
        self._started: list[BackgroundWorker] = []
        self.relay: OutboxRelay | None = None

    async def start(self) -> None:
        settings = self._orders.settings
        if not (settings.workers.relay or settings.workers.consumer):
            return
        try:
            await ensure_topics(
                settings.kafka, [settings.kafka.topic(t) for t in (ORDERS_TOPIC, *SAGA_TOPICS)]
            )
            self._producer = await start_producer(
                settings.kafka, client_id=f"{settings.kafka.client_id}-orders"
            )
            if settings.workers.relay:
                self.relay = OutboxRelay(
                    self._orders.engine,
                    tables.outbox,
                    self._producer,
                    settings.outbox,
                    service=settings.service_name,
                    topic_prefix=settings.kafka.topic_prefix,
                )
                await self._start(self.relay)
                self._orders.on_commit = self.relay.wake
            if settings.workers.consumer:
                consumer = saga_event_consumer(
                    settings=settings, unit_of_work=self._orders.uow, producer=self._producer
                )
                await self._start(consumer)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        self._orders.on_commit = lambda: None
        timeout = float(self._orders.settings.http.graceful_shutdown_seconds)
        while self._started:
            await self._started.pop().stop(timeout)
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()
        if self._admin is not None:
            admin, self._admin = self._admin, None
            await admin.close()

    async def kafka_ready(self) -> None:
        """Raises unless the brokers list their topics in time (when workers use Kafka)."""
        if self._producer is None:
            return  # no worker needs Kafka in this process
        kafka = self._orders.settings.kafka
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=kafka.bootstrap_servers,
                client_id=f"{kafka.client_id}-orders-readiness",
                request_timeout_ms=kafka.request_timeout_ms,
            )
            await admin.start()
            self._admin = admin
        async with asyncio.timeout(kafka.request_timeout_ms / 1000):
            await self._admin.list_topics()

    async def _start(self, worker: BackgroundWorker) -> None:
        await worker.start()
        self._started.append(worker)
        logger.info("started %s", type(worker).__name__)


def create_app(settings: OrdersSettings, *, catalog: Catalog | None = None) -> FastAPI:
    """The orders app; its lifespan builds everything. ``catalog`` is for tests."""
    state: dict[str, Orders | Workers] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        orders = build(settings, catalog=catalog)
        workers = Workers(orders)
        state.update(orders=orders, workers=workers)
        try:
            await workers.start()
            context = api.Context(
                uow=orders.uow,
                catalog=orders.catalog,
                idempotency=orders.idempotency,
                on_commit=lambda: orders.on_commit(),  # the relay's wake, once it runs
            )
            api.attach(app, context)
            yield
        finally:
            await workers.stop()
            await orders.close()
            state.clear()

    def started() -> tuple[Orders, Workers]:
        orders, workers = state.get("orders"), state.get("workers")
        if not isinstance(orders, Orders) or not isinstance(workers, Workers):
            raise RuntimeError("not started")
        return orders, workers

    async def database() -> None:
        async with started()[0].engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def redis() -> None:
        await started()[0].redis.ping()

    async def kafka() -> None:
        await started()[1].kafka_ready()

    app = FastAPI(
        title="kubesaga orders",
        version="1",
        description="Orders priced from the inventory catalog, and the timeline of their saga.",
        lifespan=lifespan,
    )
    app.include_router(api.public, dependencies=[Depends(web.bearer_subject(settings.auth))])
    app.include_router(api.internal, dependencies=[Depends(web.service_token(settings.auth))])
    app.add_exception_handler(OrdersError, api.orders_error_handler)
    app.add_exception_handler(IdempotencyError, idempotency_error_handler)
    web.install(
        app,
        max_body_bytes=settings.http.max_body_bytes,
        checks={"database": database, "redis": redis, "kafka": kafka},
    )
    api.require_idempotency_key(app)
    observability.instrument_app(app)
    return app
