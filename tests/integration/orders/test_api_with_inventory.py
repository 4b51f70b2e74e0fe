"""Orders pricing from the REAL inventory service over HTTP, and refusing orders when it is down.

Inventory runs as itself (its bootstrap.create_app, migrated and seeded with its demo catalog
into a database of its own) under uvicorn in a thread; orders runs the same way, pointed at
it. A second orders app points at a closed port: inventory down must be a 503 with
Retry-After, never a 500, while reading orders keeps working.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import httpx
import pytest
import pytest_asyncio

from infra.local.endpoints import Endpoints
from services.inventory.adapters import catalog_file
from services.inventory.domain.stock import Price
from tests.integration.orders import stack
from tests.integration.orders.servers import serve_in_thread

PROBLEM = "application/problem+json"


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def order(*items: tuple[str, int], currency: str = "EUR") -> dict[str, object]:
    return {
        "customerId": "c-inventory",
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items],
        "currency": currency,
        "paymentMethod": "pm_card_visa",
    }


@pytest_asyncio.fixture(scope="module")
async def inventory_db(platform: Endpoints) -> AsyncIterator[str]:
    async with stack.inventory_database(platform.postgres_dsn) as url:
        yield url


@pytest.fixture(scope="module")
def inventory_url(inventory_db: str, kafka: str) -> Iterator[str]:
    with serve_in_thread(stack.inventory_app(inventory_db, kafka=kafka)) as url:
        yield url


@pytest.fixture(scope="module")
def orders_url(orders_db: str, inventory_url: str, redis: str, kafka: str) -> Iterator[str]:
    settings = stack.orders_settings(
        orders_db, inventory_url=inventory_url, redis=redis, kafka=kafka
    )
    with serve_in_thread(stack.orders_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def orders_without_inventory_url(orders_db: str, redis: str, kafka: str) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    settings = stack.orders_settings(
        orders_db,
        inventory_url=f"http://127.0.0.1:{closed}",
        redis=redis,
        kafka=kafka,
        breaker_threshold=2,
    )
    with serve_in_thread(stack.orders_app(settings)) as url:
        yield url


@pytest_asyncio.fixture
async def client(orders_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=orders_url, timeout=15) as client:
        yield client


async def test_orders_are_priced_from_the_inventory_catalog(
    client: httpx.AsyncClient, inventory_url: str
) -> None:
    async with httpx.AsyncClient(base_url=inventory_url) as inventory:
        prices = {
            sku: (await inventory.get(f"/products/{sku}")).json()["price"]["value"]
            for sku in ("SKU-1", "SKU-2")
        }

    response = await client.post("/orders", json=order(("SKU-1", 2), ("SKU-2", 3)), headers=key())

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["items"] == [
        {"sku": "SKU-1", "quantity": 2, "unitPrice": prices["SKU-1"]},
        {"sku": "SKU-2", "quantity": 3, "unitPrice": prices["SKU-2"]},
    ]
    assert body["amount"] == {"value": 2 * prices["SKU-1"] + 3 * prices["SKU-2"], "currency": "EUR"}


async def test_the_price_is_the_one_at_order_time(
    client: httpx.AsyncClient, inventory_db: str
) -> None:
    before = await client.post("/orders", json=order(("SKU-3", 1)), headers=key())
    [product] = [p for p in catalog_file.load(catalog_file.DEFAULT_CATALOG) if p.sku == "SKU-3"]
    await stack.seed_inventory(
        inventory_db, [replace(product, price=Price(product.price.value + 100, "EUR"))]
    )
    try:
        after = await client.post("/orders", json=order(("SKU-3", 1)), headers=key())
    finally:
        await stack.seed_inventory(inventory_db, [product])

    old = before.json()["items"][0]["unitPrice"]
    assert after.json()["items"][0]["unitPrice"] == old + 100
    stored = (await client.get(f"/orders/{before.json()['orderId']}")).json()
    assert stored["items"][0]["unitPrice"] == old  # an order keeps its price


async def test_unknown_skus_from_the_real_catalog_are_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/orders", json=order(("SKU-1", 1), ("NO-SUCH-SKU", 1), ("ALSO-NOT", 2)), headers=key()
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["skus"] == ["ALSO-NOT", "NO-SUCH-SKU"]


async def test_a_currency_the_catalog_does_not_use_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/orders", json=order(("SKU-1", 1), currency="USD"), headers=key())
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/currency-mismatch"


async def test_inventory_down_is_a_503_with_retry_after_not_a_500(
    client: httpx.AsyncClient, orders_without_inventory_url: str
) -> None:
    existing = (await client.post("/orders", json=order(("SKU-1", 1)), headers=key())).json()
    async with httpx.AsyncClient(base_url=orders_without_inventory_url, timeout=15) as down:
        for _ in range(3):  # the breaker opens after two failed lookups; all stay 503
            response = await down.post("/orders", json=order(("SKU-1", 1)), headers=key())
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == PROBLEM
            assert int(response.headers["retry-after"]) >= 1
        assert response.json()["detail"] == "inventory is unavailable (circuit open)"
        # Reading orders does not need inventory.
        read = await down.get(f"/orders/{existing['orderId']}")
        assert read.status_code == 200
