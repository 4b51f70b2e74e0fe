"""Running the payments app in-process for the API tests: settings, a client, its provider.

``payments_settings`` points the service at the test module's database, the platform's Redis
and Kafka, a unique circuit-breaker name and the test webhook secret. ``running_app`` drives
the app's lifespan on the test loop and yields an httpx client speaking ASGI to it, plus the
provider (the simulated one, or any test provider handed in) so tests can count its calls.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from services.payments import bootstrap
from services.payments.adapters.simulated import SimulatedProvider
from services.payments.settings import (
    BreakerSettings,
    PaymentsSettings,
    RetrySettings,
    StripeSettings,
    WorkerSettings,
)
from services.runtime.settings import AuthSettings, DatabaseSettings, KafkaSettings, RedisSettings
from tests.unit.payments.stripe_signing import SECRET

TOKEN = "payments-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def payments_settings(
    db_url: str, redis: str, kafka: str, *, breaker: str | None = None, relay: bool = False
) -> PaymentsSettings:
    return PaymentsSettings(
        environment="test",
        db=DatabaseSettings(url=db_url, pool_size=5),
        redis=RedisSettings(url=redis),
        kafka=KafkaSettings(bootstrap_servers=kafka, client_id="payments-tests"),
        auth=AuthSettings(service_token=SecretStr(TOKEN)),
        stripe=StripeSettings(webhook_secret=SecretStr(SECRET)),
        retry=RetrySettings(
            attempts=3,
            backoff_initial=timedelta(milliseconds=1),
            backoff_max=timedelta(milliseconds=5),
        ),
        breaker=BreakerSettings(
            name=breaker or f"payments-test-{uuid.uuid4().hex[:8]}",
            namespace="kubesaga-test",
            failure_threshold=3,
        ),
        workers=WorkerSettings(relay=relay),
    )


@asynccontextmanager
async def running_app(
    settings: PaymentsSettings, provider: Any = None
) -> AsyncIterator[tuple[httpx.AsyncClient, SimulatedProvider]]:
    provider = provider or SimulatedProvider()
    app = bootstrap.create_app(settings, provider=provider)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://payments") as client:
            yield client, provider


def payment_body(
    order_id: uuid.UUID | None = None,
    payment_method: str = "pm_card_visa",
    amount: int = 1999,
    currency: str = "EUR",
) -> dict[str, Any]:
    return {
        "orderId": str(order_id or uuid.uuid4()),
        "customerId": "c-1",
        "amount": {"value": amount, "currency": currency},
        "paymentMethod": payment_method,
    }
