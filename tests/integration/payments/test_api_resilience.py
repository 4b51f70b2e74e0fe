"""Two payments replicas sharing Redis: a failing provider opens the circuit for both.

Replica A's provider is down (our FlakyProvider, failing transiently); its requests are
retried, then answered 503, and the failures open the shared breaker. Replica B's provider is
healthy, yet B answers 503 with Retry-After at once, without calling it: the circuit is open
for all replicas together. Each test uses its own breaker name.
"""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from services.payments.adapters.simulated import SimulatedProvider
from tests.integration.payments.api_support import (
    AUTH,
    payment_body,
    payments_settings,
    running_app,
)
from tests.integration.payments.support import FlakyProvider, payment_row

pytestmark = pytest.mark.platform


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_the_circuit_opens_for_every_replica(
    payments_db: str, redis: str, kafka: str, engine: AsyncEngine
) -> None:
    breaker = f"payments-test-{uuid.uuid4().hex[:8]}"
    settings = payments_settings(payments_db, redis, kafka, breaker=breaker)
    retries = sample("retries_total", {"operation": "payments.authorize"})
    unavailable = sample("payment_failures_total", {"reason": "provider_unavailable"})
    circuit_open = sample("payment_failures_total", {"reason": "circuit_open"})
    down, healthy = FlakyProvider(), SimulatedProvider()
    try:
        async with (
            running_app(settings, down) as (replica_a, _),
            running_app(settings, healthy) as (replica_b, _),
        ):
            failed = await replica_a.post("/payments", json=payment_body(), headers=AUTH)
            assert failed.status_code == 503, failed.text
            assert failed.json()["type"].endswith("/provider-unavailable")
            assert int(failed.headers["Retry-After"]) >= 1
            assert down.attempts == 3  # retried with backoff, then the breaker's threshold

            body = payment_body()
            refused = await replica_b.post("/payments", json=body, headers=AUTH)
            assert refused.status_code == 503
            assert "circuit open" in refused.json()["detail"]
            assert 1 <= int(refused.headers["Retry-After"]) <= 30
            assert healthy.calls["authorize"] == 0
            assert await payment_row(engine, uuid.UUID(body["orderId"])) is None

            assert sample("circuit_breaker_state", {"name": breaker}) == 2  # open
            assert sample("retries_total", {"operation": "payments.authorize"}) == retries + 2
            assert (
                sample("payment_failures_total", {"reason": "provider_unavailable"})
                == unavailable + 1
            )
            assert sample("payment_failures_total", {"reason": "circuit_open"}) == circuit_open + 1
    finally:
        client = Redis.from_url(redis)
        keys = await client.keys(f"kubesaga-test:breaker:{{{breaker}}}:*")
        if keys:
            await client.delete(*keys)
        await client.aclose()
