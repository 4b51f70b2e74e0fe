"""The provider's circuit breaker, shared through Redis by two replicas' guards.

Each "replica" has its own Redis connection, breaker object and guard, as two pods would;
they share only the breaker's name. A unique name per test keeps tests (and other helpers
on the same Redis) apart.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from services.payments.adapters.simulated import SimulatedProvider
from services.payments.adapters.unit_of_work import PaymentsUnitOfWork
from services.payments.domain import errors
from services.payments.service_layer import handlers
from services.payments.service_layer.guard import ProviderGuard
from services.runtime.circuit_breaker import BreakerState, CircuitBreaker
from tests.integration.payments.support import FlakyProvider, fast_retries, payment_row

pytestmark = pytest.mark.platform


@pytest_asyncio.fixture
async def replicas(redis: str) -> AsyncIterator[tuple[ProviderGuard, ProviderGuard, str]]:
    name = f"payments-test-{uuid.uuid4().hex[:8]}"
    clients = [Redis.from_url(redis), Redis.from_url(redis)]
    guards = [
        ProviderGuard(
            fast_retries(),
            CircuitBreaker(
                client,
                name,
                namespace="kubesaga-test",
                failure_threshold=3,
                failure_rate=0.5,
                reset_timeout=timedelta(seconds=30),
            ),
        )
        for client in clients
    ]
    yield guards[0], guards[1], name
    await clients[0].delete(*(await clients[0].keys(f"kubesaga-test:breaker:{{{name}}}:*")))
    for client in clients:
        await client.aclose()


async def test_failures_on_one_replica_open_the_circuit_for_both(
    replicas: tuple[ProviderGuard, ProviderGuard, str],
    uow: Callable[[], PaymentsUnitOfWork],
    engine: AsyncEngine,
) -> None:
    first, second, name = replicas
    down = FlakyProvider()
    with pytest.raises(errors.ProviderUnavailable):
        await handlers.authorize(
            uow=uow(),
            provider=down,
            guard=first,
            order_id=uuid.uuid4(),
            amount=100,
            currency="EUR",
            payment_method="pm_card_visa",
        )
    assert down.attempts == 3  # three transient failures: the threshold
    assert REGISTRY.get_sample_value("circuit_breaker_state", {"name": name}) == BreakerState.OPEN

    healthy, order_id = SimulatedProvider(), uuid.uuid4()
    with pytest.raises(errors.ProviderUnavailable, match="circuit open") as raised:
        await handlers.authorize(
            uow=uow(),
            provider=healthy,
            guard=second,
            order_id=order_id,
            amount=100,
            currency="EUR",
            payment_method="pm_card_visa",
        )
    assert healthy.calls["authorize"] == 0  # the other replica did not even try
    assert 0 < raised.value.retry_after <= 30

    assert await payment_row(engine, order_id) is None


async def test_declines_do_not_open_the_circuit(
    replicas: tuple[ProviderGuard, ProviderGuard, str], uow: Callable[[], PaymentsUnitOfWork]
) -> None:
    first, second, _ = replicas
    provider = SimulatedProvider()
    for guard in (first, second, first, second):
        result = await handlers.authorize(
            uow=uow(),
            provider=provider,
            guard=guard,
            order_id=uuid.uuid4(),
            amount=100,
            currency="EUR",
            payment_method="pm_card_chargeDeclined",
        )
        assert result.payment.decline_code == "generic_decline"
    assert provider.calls["authorize"] == 4
