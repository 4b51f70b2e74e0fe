"""Orders as ``serve`` runs it: auth (service token, optional JWT), probes, and its workers.

The app runs with JWT auth enabled and both Kafka workers on (so /readyz checks all three
dependencies for real, and the relay publishes each new order's ``order.created`` to the
real ``kubesaga.orders`` topic); the in-memory catalog prices the orders, and the consumer
uses a test group.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import jwt
import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.orders import bootstrap
from services.orders.adapters import tables
from services.orders.settings import OrdersSettings, WorkerSettings
from services.runtime.settings import AuthSettings
from tests.integration.orders.servers import serve_in_thread
from tests.integration.orders.support import MemoryCatalog
from tests.integration.orders.test_api import ORDER, orders_settings
from tests.support import eventually

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


@pytest.fixture(scope="module")
def settings(orders_db: str, redis: str, kafka: str) -> OrdersSettings:
    base = orders_settings(orders_db, redis, kafka)
    return base.model_copy(
        update={
            "auth": AuthSettings(
                service_token=SecretStr("the-test-service-token"),
                jwt_enabled=True,
                jwt_secret=SecretStr(SECRET),
                jwt_audience="kubesaga",
            ),
            "workers": WorkerSettings(relay=True, consumer=True),
            "consumer_group": f"orders-test-{uuid.uuid4().hex[:8]}",
        }
    )


@pytest.fixture(scope="module")
def orders_url(settings: OrdersSettings) -> Iterator[str]:
    with serve_in_thread(bootstrap.create_app(settings, catalog=MemoryCatalog())) as url:
        yield url


@pytest_asyncio.fixture
async def client(orders_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=orders_url, timeout=10) as client:
        yield client


def bearer(subject: str, *, audience: str = "kubesaga", expires_in: int = 300) -> dict[str, str]:
    claims = {"sub": subject, "aud": audience, "exp": int(time.time()) + expires_in}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


async def test_probes_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "kafka": "ok", "redis": "ok"}

    created = await client.post(
        "/orders", json=ORDER, headers={**bearer("alice"), "Idempotency-Key": "m-1"}
    )
    assert created.status_code == 201
    metrics = (await client.get("/metrics")).text
    assert 'orders_created_total{currency="EUR"}' in metrics


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        bearer("alice", audience="someone-else"),
        bearer("alice", expires_in=-60),
    ],
    ids=["none", "garbage", "wrong-audience", "expired"],
)
async def test_public_routes_need_a_valid_jwt_when_enabled(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post(
        "/orders", json=ORDER, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/orders", headers=headers)).status_code == 401


async def test_idempotency_keys_are_per_subject(client: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    alice = await client.post("/orders", json=ORDER, headers={**bearer("alice"), **key})
    bob = await client.post("/orders", json=ORDER, headers={**bearer("bob"), **key})
    again = await client.post("/orders", json=ORDER, headers={**bearer("alice"), **key})
    assert alice.status_code == bob.status_code == again.status_code == 201
    assert alice.json()["orderId"] != bob.json()["orderId"]
    assert again.json()["orderId"] == alice.json()["orderId"]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", "the-test-service-token", "Basic the-test-service-token"],
)
async def test_internal_routes_need_the_service_token(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    order_id = (
        await client.post(
            "/orders",
            json=ORDER,
            headers={**bearer("alice"), "Idempotency-Key": str(uuid.uuid4())},
        )
    ).json()["orderId"]
    headers = {"Authorization": authorization} if authorization else {}
    refused = await client.post(f"/orders/{order_id}/complete", headers=headers)
    assert refused.status_code == 401
    accepted = await client.post(
        f"/orders/{order_id}/complete",
        headers={"Authorization": "Bearer the-test-service-token"},
    )
    assert accepted.status_code == 200


async def test_the_relay_publishes_a_new_orders_event(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await client.post(
        "/orders", json=ORDER, headers={**bearer("alice"), "Idempotency-Key": str(uuid.uuid4())}
    )
    order_id = response.json()["orderId"]
    o = tables.outbox

    async def published() -> str | None:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(o.c.event_type, o.c.topic, o.c.published_at).where(o.c.key == order_id)
                )
            ).one()
        return f"{row.event_type} on {row.topic}" if row.published_at else None

    assert await eventually(published, timeout=10, what="publication") == (
        "order.created on kubesaga.orders"
    )
