"""Wires payments together: engine, provider, guard (retries + shared breaker), relay, the app.

``create_app(settings)`` is the one way to get a running payments service: ``serve`` calls
it, and so do the tests (which may hand in their own provider, to count its calls). Its
lifespan builds ``Payments`` (engine, unit-of-work factory, provider, Redis and the provider's
guard) and starts the outbox relay (with the Kafka producer and topic it needs, switchable),
and stops them in reverse on shutdown.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import Depends, FastAPI
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.payments.adapters import tables
from services.payments.adapters.simulated import SimulatedProvider
from services.payments.adapters.stripe_provider import StripeProvider
from services.payments.adapters.unit_of_work import PaymentsUnitOfWork
from services.payments.domain import simulation
from services.payments.domain.errors import PaymentsError
from services.payments.entrypoints import api
from services.payments.service_layer.guard import ProviderGuard
from services.payments.service_layer.ports import PaymentProvider
from services.payments.settings import PaymentsSettings
from services.runtime import db, observability, web
from services.runtime.circuit_breaker import CircuitBreaker
from services.runtime.events import PAYMENTS_TOPIC
from services.runtime.kafka import IdempotentProducer, ensure_topics, start_producer
from services.runtime.relay import OutboxRelay
from services.runtime.resilience import RetryPolicy

logger = logging.getLogger(__name__)


async def _nothing() -> None:
    return None


@dataclass
class Payments:
    """What every request and worker of one process shares."""

    settings: PaymentsSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    provider: PaymentProvider
    redis: Redis
    breaker: CircuitBreaker
    guard: ProviderGuard
    close_provider: Callable[[], Awaitable[None]] = _nothing
    on_commit: Callable[[], None] = field(default=lambda: None)  # wakes the relay

    def uow(self) -> PaymentsUnitOfWork:
        return PaymentsUnitOfWork(self.sessions)

    async def close(self) -> None:
        try:
            await self.close_provider()
            await self.redis.aclose()
        finally:
            await self.engine.dispose()


def build_provider(
    settings: PaymentsSettings,
) -> tuple[PaymentProvider, Callable[[], Awaitable[None]]]:
    """The provider ``settings.provider`` names, and how to release it."""
    if settings.provider == "stripe":
        stripe = StripeProvider.connect(
            api_key=settings.stripe.api_key.get_secret_value(),
            api_base=settings.stripe.api_base,
            timeout=settings.stripe.timeout.total_seconds(),
        )
        return stripe, stripe.aclose
    sim = settings.simulator
    simulated = SimulatedProvider(
        rates=simulation.Rates(sim.approval_rate, sim.transient_error_rate),
        latency=sim.latency,
        rng=random.Random(sim.seed),
    )
    return simulated, _nothing


def build(settings: PaymentsSettings, *, provider: PaymentProvider | None = None) -> Payments:
    """Everything but the background workers; ``provider`` replaces the configured one."""
    close_provider: Callable[[], Awaitable[None]] = _nothing
    if provider is None:
        provider, close_provider = build_provider(settings)
    engine = db.create_engine(settings.db)
    redis = Redis.from_url(settings.redis.url)
    breaker = CircuitBreaker(
        redis,
        settings.breaker.name,
        namespace=settings.breaker.namespace,
        failure_threshold=settings.breaker.failure_threshold,
        failure_rate=settings.breaker.failure_rate,
        window=settings.breaker.window,
        reset_timeout=settings.breaker.reset_timeout,
    )
    retry = RetryPolicy(
        attempts=settings.retry.attempts,
        initial=settings.retry.backoff_initial,
        maximum=settings.retry.backoff_max,
    )
    return Payments(
        settings=settings,
        engine=engine,
        sessions=db.session_factory(engine),
        provider=provider,
        redis=redis,
        breaker=breaker,
        guard=ProviderGuard(retry, breaker),
        close_provider=close_provider,
    )


class Workers:
    """The background half of ``serve``: the outbox relay."""

    def __init__(self, payments: Payments) -> None:
        self._payments = payments
        self._producer: IdempotentProducer | None = None
        self.relay: OutboxRelay | None = None

    async def start(self) -> None:
        settings = self._payments.settings
        if not settings.workers.relay:
            return
        try:
            await ensure_topics(settings.kafka, [settings.kafka.topic(PAYMENTS_TOPIC)])
            self._producer = await start_producer(
                settings.kafka, client_id=f"{settings.kafka.client_id}-payments"
            )
            relay = OutboxRelay(
                self._payments.engine,
                tables.outbox,
                self._producer,
                settings.outbox,
                service=settings.service_name,
                topic_prefix=settings.kafka.topic_prefix,
            )
            await relay.start()
            self.relay = relay
            self._payments.on_commit = relay.wake
            logger.info("started the outbox relay")
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        self._payments.on_commit = lambda: None
        if self.relay is not None:
            relay, self.relay = self.relay, None
            await relay.stop(float(self._payments.settings.http.graceful_shutdown_seconds))
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()


def readiness(payments: Payments) -> dict[str, web.Check]:
    """What ``/readyz`` checks: the database and Redis answer. The breaker's state is
    reported, not checked: with the provider down this replica still answers (503 at once,
    webhooks 200), so taking it out of the load balancer would only make things worse."""

    async def database() -> str:
        async with payments.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return "ok"

    async def redis() -> str:
        await payments.redis.ping()
        return "ok"

    async def provider_circuit() -> str:
        return (await payments.breaker.state()).name.lower()

    return {"database": database, "redis": redis, "provider_circuit": provider_circuit}


def create_app(settings: PaymentsSettings, *, provider: PaymentProvider | None = None) -> FastAPI:
    """The payments app; its lifespan builds everything. ``provider`` is for tests."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        payments = build(settings, provider=provider)
        workers = Workers(payments)
        try:
            await workers.start()
            api.attach(
                app,
                api.Context(
                    uow=payments.uow,
                    provider=payments.provider,
                    guard=payments.guard,
                    webhook_secret=settings.stripe.webhook_secret.get_secret_value(),
                    webhook_tolerance=settings.stripe.webhook_tolerance,
                    on_commit=lambda: payments.on_commit(),  # the relay's wake, once it runs
                ),
            )
            checks.update(readiness(payments))
            yield
        finally:
            checks.clear()
            await workers.stop()
            await payments.close()

    checks: dict[str, web.Check] = {}

    app = FastAPI(title="kubesaga payments", version="1", lifespan=lifespan)
    app.include_router(api.internal, dependencies=[Depends(web.service_token(settings.auth))])
    app.include_router(api.webhooks)
    app.add_exception_handler(PaymentsError, api.payments_error_handler)
    web.install(app, max_body_bytes=settings.http.max_body_bytes, checks=checks)
    observability.instrument_app(app)
    return app
