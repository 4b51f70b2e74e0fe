"""Wires inventory together: engine, units of work, background workers, the HTTP app.

``create_app(settings)`` is the one way to get a running inventory: ``serve`` calls it, and so
do tests (orders' among them) that want the real service in-process. Its lifespan builds an
``Inventory`` (engine + unit-of-work factory + clock) and starts the ``Workers``: the outbox
relay (with the Kafka producer and topic it needs) and the expiry sweeper, each switchable in
the settings, and stops them gracefully, in reverse, on shutdown.

Inventory consumes no events today. A consumer would be an ``InboxConsumer``
(``services.runtime.consumer``) built in ``Workers.start`` next to the relay, with its
handler in ``entrypoints/consumers.py``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from fastapi import Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.inventory.adapters import tables
from services.inventory.adapters.unit_of_work import InventoryUnitOfWork
from services.inventory.domain.errors import InventoryError
from services.inventory.entrypoints import api
from services.inventory.entrypoints.sweeper import ExpirySweeper
from services.inventory.service_layer.clock import Clock, utc_now
from services.inventory.settings import InventorySettings
from services.runtime import db, observability, web
from services.runtime.events import INVENTORY_TOPIC
from services.runtime.kafka import BackgroundWorker, ensure_topics, start_producer
from services.runtime.relay import OutboxRelay

logger = logging.getLogger(__name__)


@dataclass
class Inventory:
    """What every request and worker of one process shares."""

    settings: InventorySettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock = utc_now
    on_commit: Callable[[], None] = field(default=lambda: None)  # wakes the relay

    def uow(self) -> InventoryUnitOfWork:
        return InventoryUnitOfWork(self.sessions)

    async def database_ready(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


def build(settings: InventorySettings, *, clock: Clock = utc_now) -> Inventory:
    engine = db.create_engine(settings.db)
    return Inventory(settings, engine, db.session_factory(engine), clock)


class Workers:
    """The background half of ``serve``: outbox relay and expiry sweeper."""

    def __init__(self, inventory: Inventory) -> None:
        self._inventory = inventory
        self._producer: AIOKafkaProducer | None = None
        self._started: list[BackgroundWorker] = []
        self.relay: OutboxRelay | None = None
        self.sweeper: ExpirySweeper | None = None

    async def start(self) -> None:
        settings = self._inventory.settings
        try:
            if settings.relay_enabled:
                await ensure_topics(settings.kafka, [settings.kafka.topic(INVENTORY_TOPIC)])
                self._producer = await start_producer(
                    settings.kafka, client_id=f"{settings.kafka.client_id}-inventory"
                )
                self.relay = OutboxRelay(
                    self._inventory.engine,
                    tables.outbox,
                    self._producer,
                    settings.outbox,
                    service=settings.service_name,
                    topic_prefix=settings.kafka.topic_prefix,
                )
                await self._start(self.relay)
                self._inventory.on_commit = self.relay.wake
            if settings.sweeper.enabled:
                self.sweeper = ExpirySweeper(
                    self._inventory.uow, settings.sweeper, clock=self._inventory.clock
                )
                await self._start(self.sweeper)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        self._inventory.on_commit = lambda: None
        timeout = float(self._inventory.settings.http.graceful_shutdown_seconds)
        while self._started:
            await self._started.pop().stop(timeout)
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def _start(self, worker: BackgroundWorker) -> None:
        await worker.start()
        self._started.append(worker)
        logger.info("started %s", type(worker).__name__)


def create_app(settings: InventorySettings, *, clock: Clock = utc_now) -> FastAPI:
    """The inventory app; its lifespan builds everything. ``clock`` is for tests."""
    state: dict[str, Inventory] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        inventory = state["inventory"] = build(settings, clock=clock)
        workers = Workers(inventory)
        try:
            await workers.start()
            api.attach(
                app,
                api.Context(
                    uow=inventory.uow,
                    clock=inventory.clock,
                    reservation_ttl=settings.reservation_ttl,
                    on_commit=lambda: inventory.on_commit(),  # the relay's wake, once it runs
                ),
            )
            yield
        finally:
            await workers.stop()
            await inventory.engine.dispose()
            state.clear()

    async def database() -> None:
        if "inventory" not in state:
            raise RuntimeError("not started")
        await state["inventory"].database_ready()

    app = FastAPI(
        title="kubesaga inventory",
        version="1",
        description="Products, stock and the reservations the order saga holds on it.",
        lifespan=lifespan,
    )
    app.include_router(api.public, dependencies=[Depends(web.bearer_subject(settings.auth))])
    app.include_router(api.internal, dependencies=[Depends(web.service_token(settings.auth))])
    app.add_exception_handler(InventoryError, api.inventory_error_handler)
    web.install(app, max_body_bytes=settings.http.max_body_bytes, checks={"database": database})
    observability.instrument_app(app)
    return app
