"""The inventory catalog adapter when inventory misbehaves: retries, the shared breaker, 503s.

The breaker runs on the real Redis (uuid namespace per test). "Inventory down" is a real
closed port. Inventory answering 5xx, 401 or nonsense is played by an httpx transport
standing in for the inventory HTTP server, since the real one cannot be made to fail on cue;
the happy path against the real inventory service is in test_api_with_inventory.py.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis

from services.orders.adapters.catalog import InventoryCatalog
from services.orders.domain import errors
from services.orders.domain.catalog import ProductQuote
from services.runtime.circuit_breaker import CircuitBreaker
from services.runtime.resilience import RetryPolicy

FAST_RETRY = RetryPolicy(
    attempts=3, initial=timedelta(milliseconds=10), maximum=timedelta(milliseconds=50)
)


@pytest_asyncio.fixture
async def redis_client(redis: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis)
    yield client
    await client.aclose()


def breaker(redis_client: Redis, *, threshold: int = 5) -> CircuitBreaker:
    return CircuitBreaker(
        redis_client,
        "inventory-catalog",
        namespace=f"test-orders-{uuid.uuid4().hex[:10]}",
        failure_threshold=threshold,
        failure_rate=0.0,
        reset_timeout=timedelta(seconds=30),
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


Answer = Callable[[httpx.Request], httpx.Response]


def catalog_on(answer: Answer, redis_client: Redis) -> tuple[InventoryCatalog, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return answer(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://inv")
    return InventoryCatalog(client, retry=FAST_RETRY, breaker=breaker(redis_client)), seen


def product(sku: str, value: int = 1999, currency: str = "EUR") -> httpx.Response:
    body = {
        "sku": sku,
        "name": sku,
        "price": {"value": value, "currency": currency},
        "available": 5,
        "lowStockThreshold": 1,
    }
    return httpx.Response(200, json=body)


async def test_inventory_down_is_unavailable_and_then_the_circuit_opens(
    redis_client: Redis,
) -> None:
    client = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{closed_port()}", timeout=httpx.Timeout(1.0)
    )
    catalog = InventoryCatalog(client, retry=FAST_RETRY, breaker=breaker(redis_client, threshold=3))
    try:
        with pytest.raises(errors.CatalogUnavailable) as refused:
            await catalog.quote(["SKU-1"])
        assert refused.value.retry_after > 0
        assert isinstance(refused.value.__cause__, Exception)  # the cause is chained

        # Three refused attempts filled the window: the next lookup is not even tried.
        started = time.monotonic()
        with pytest.raises(errors.CatalogUnavailable, match="circuit open") as open_circuit:
            await catalog.quote(["SKU-1", "SKU-2"])
        assert time.monotonic() - started < 0.5
        assert 25 < open_circuit.value.retry_after <= 30
    finally:
        await client.aclose()


async def test_an_open_circuit_is_shared_by_every_replica(redis_client: Redis) -> None:
    namespace = f"test-orders-{uuid.uuid4().hex[:10]}"
    replicas = [
        CircuitBreaker(redis_client, "inventory-catalog", namespace=namespace, failure_threshold=1)
        for _ in range(2)
    ]
    down = httpx.AsyncClient(base_url=f"http://127.0.0.1:{closed_port()}")
    up_seen: list[str] = []

    def up(request: httpx.Request) -> httpx.Response:
        up_seen.append(request.url.path)
        return product("SKU-1")

    healthy = httpx.AsyncClient(transport=httpx.MockTransport(up), base_url="http://inv")
    try:
        with pytest.raises(errors.CatalogUnavailable):
            await InventoryCatalog(down, retry=FAST_RETRY, breaker=replicas[0]).quote(["SKU-1"])
        with pytest.raises(errors.CatalogUnavailable, match="circuit open"):
            await InventoryCatalog(healthy, retry=FAST_RETRY, breaker=replicas[1]).quote(["SKU-1"])
        assert up_seen == []
    finally:
        await down.aclose()
        await healthy.aclose()


async def test_a_5xx_is_retried_and_a_404_means_unknown(redis_client: Redis) -> None:
    failures = {"SKU-1": 2}

    def answer(request: httpx.Request) -> httpx.Response:
        sku = request.url.path.rsplit("/", 1)[-1]
        if sku == "NOPE":
            return httpx.Response(404, json={"title": "no such product"})
        if failures.get(sku, 0) > 0:
            failures[sku] -= 1
            return httpx.Response(503, headers={"Retry-After": "0"})
        return product(sku)

    catalog, seen = catalog_on(answer, redis_client)
    quotes = await catalog.quote(["SKU-1", "SKU-2", "NOPE"])
    assert quotes == {
        "SKU-1": ProductQuote("SKU-1", 1999, "EUR"),
        "SKU-2": ProductQuote("SKU-2", 1999, "EUR"),
    }
    assert sorted(seen) == sorted(["/products/SKU-1"] * 3 + ["/products/SKU-2", "/products/NOPE"])


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(401, json={"title": "unauthorized"}),
        httpx.Response(200, text="<html>not json</html>"),
        httpx.Response(200, json={"sku": "SKU-1", "price": {"value": "12", "currency": "EUR"}}),
        httpx.Response(200, json={"sku": "SKU-1", "price": {"value": -5, "currency": "EUR"}}),
        httpx.Response(200, json={"sku": "OTHER", "price": {"value": 5, "currency": "EUR"}}),
    ],
    ids=["401", "not-json", "string-price", "negative-price", "wrong-sku"],
)
async def test_a_broken_contract_is_unavailable_and_not_retried(
    redis_client: Redis, answer: httpx.Response
) -> None:
    catalog, seen = catalog_on(lambda _: answer, redis_client)
    with pytest.raises(errors.CatalogUnavailable, match="unexpected answer"):
        await catalog.quote(["SKU-1"])
    assert seen == ["/products/SKU-1"]


async def test_retries_give_up_with_the_servers_hint(redis_client: Redis) -> None:
    catalog, seen = catalog_on(
        lambda _: httpx.Response(503, headers={"Retry-After": "0.01"}), redis_client
    )
    with pytest.raises(errors.CatalogUnavailable) as refused:
        await catalog.quote(["SKU-1"])
    assert len(seen) == FAST_RETRY.attempts
    assert refused.value.retry_after == pytest.approx(0.01)
