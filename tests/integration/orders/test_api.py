"""The orders HTTP API end to end in one process: the real app under uvicorn, real Postgres/Redis.

The app is ``bootstrap.create_app`` with the in-memory catalog (our own port; the real
inventory is in test_api_with_inventory.py) and no Kafka workers (the relay and consumer have
their own tests). Each module has its own database and Redis namespace (the service name).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.orders import bootstrap
from services.orders.adapters import tables
from services.orders.settings import OrdersSettings, WorkerSettings
from services.runtime.settings import DatabaseSettings, KafkaSettings, RedisSettings
from tests.integration.orders.servers import serve_in_thread
from tests.integration.orders.support import MemoryCatalog

ORDER = {
    "customerId": "c-api",
    "items": [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 1}],
    "currency": "EUR",
    "paymentMethod": "pm_card_visa",
}
PROBLEM = "application/problem+json"


def orders_settings(orders_db: str, redis: str, kafka: str, **overrides: Any) -> OrdersSettings:
    return OrdersSettings(
        service_name=f"orders-test-{uuid.uuid4().hex[:8]}",
        db=DatabaseSettings(url=orders_db),
        redis=RedisSettings(url=redis),
        kafka=KafkaSettings(bootstrap_servers=kafka),
        workers=WorkerSettings(relay=False, consumer=False),
        **overrides,
    )


@pytest.fixture(scope="module")
def catalog() -> MemoryCatalog:
    return MemoryCatalog()


@pytest.fixture(scope="module")
def settings(orders_db: str, redis: str, kafka: str) -> OrdersSettings:
    return orders_settings(orders_db, redis, kafka)


@pytest.fixture(scope="module")
def orders_url(settings: OrdersSettings, catalog: MemoryCatalog) -> Iterator[str]:
    with serve_in_thread(bootstrap.create_app(settings, catalog=catalog)) as url:
        yield url


@pytest_asyncio.fixture
async def client(orders_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=orders_url, timeout=10) as client:
        yield client


@pytest_asyncio.fixture
async def internal(orders_url: str, settings: OrdersSettings) -> AsyncIterator[httpx.AsyncClient]:
    token = settings.auth.service_token.get_secret_value()
    async with httpx.AsyncClient(
        base_url=orders_url, timeout=10, headers=service_token_headers(token)
    ) as client:
        yield client


def service_token_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def rows_of(engine: AsyncEngine, order_id: str) -> tuple[int, int]:
    """(order rows, outbox rows) for one order id."""
    async with engine.connect() as conn:
        orders = await conn.scalar(
            select(func.count()).select_from(tables.orders).where(tables.orders.c.id == order_id)
        )
        events = await conn.scalar(
            select(func.count()).select_from(tables.outbox).where(tables.outbox.c.key == order_id)
        )
    return int(orders or 0), int(events or 0)


async def orders_of(engine: AsyncEngine, customer_id: str) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(func.count())
            .select_from(tables.orders)
            .where(tables.orders.c.customer_id == customer_id)
        )
    return int(count or 0)


# --- POST /orders and its Idempotency-Key ----------------------------------------------------


async def test_an_order_is_created_priced_from_the_catalog(client: httpx.AsyncClient) -> None:
    response = await client.post("/orders", json=ORDER, headers=key())

    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/orders/{body['orderId']}"
    assert body["phase"] == "Pending"
    assert body["items"] == [
        {"sku": "SKU-1", "quantity": 2, "unitPrice": 1999},
        {"sku": "SKU-2", "quantity": 1, "unitPrice": 500},
    ]
    assert body["amount"] == {"value": 2 * 1999 + 500, "currency": "EUR"}
    assert (body["customerId"], body["paymentMethod"]) == ("c-api", "pm_card_visa")
    assert body["createdAt"]


async def test_the_same_key_and_body_replay_the_first_answer(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    headers = key()
    first = await client.post("/orders", json=ORDER, headers=headers)
    # Same document, different key order and spacing: still the same request.
    again = await client.post(
        "/orders",
        content=b'{"paymentMethod":"pm_card_visa", "currency":"EUR", "customerId":"c-api",'
        b' "items":[{"sku":"SKU-1","quantity":2},{"quantity":1,"sku":"SKU-2"}]}',
        headers={**headers, "Content-Type": "application/json"},
    )

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers.get("idempotent-replayed") == "true"
    assert await rows_of(engine, first.json()["orderId"]) == (1, 1)


async def test_the_same_key_with_another_body_is_refused(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    headers = key()
    first = await client.post("/orders", json=ORDER, headers=headers)
    other = await client.post("/orders", json={**ORDER, "customerId": "c-other"}, headers=headers)

    assert other.status_code == 422
    assert other.headers["content-type"] == PROBLEM
    assert "already used with a different request" in other.json()["detail"]
    assert await rows_of(engine, first.json()["orderId"]) == (1, 1)


@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": ""}, {"Idempotency-Key": "k" * 256}])
async def test_a_missing_or_malformed_key_is_a_400(
    client: httpx.AsyncClient, engine: AsyncEngine, headers: dict[str, str]
) -> None:
    customer = f"c-nokey-{uuid.uuid4().hex[:6]}"
    response = await client.post("/orders", json={**ORDER, "customerId": customer}, headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert "Idempotency-Key" in response.json()["detail"]
    assert await orders_of(engine, customer) == 0


async def test_concurrent_requests_with_one_key_make_one_order(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    customer = f"c-race-{uuid.uuid4().hex[:6]}"
    headers = key()
    answers = await asyncio.gather(
        *(
            client.post("/orders", json={**ORDER, "customerId": customer}, headers=headers)
            for _ in range(10)
        )
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert set(statuses) <= {201, 409}, [a.text for a in answers]
    order_ids = {a.json()["orderId"] for a in answers if a.status_code == 201}
    assert len(order_ids) == 1
    in_flight = [a for a in answers if a.status_code == 409]
    assert all(a.headers.get("retry-after") for a in in_flight)
    assert await orders_of(engine, customer) == 1


# --- bad input is a 4xx problem, never a 500 --------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "expected"),
    [
        ({"items": [{"sku": "NOPE-1", "quantity": 1}, {"sku": "SKU-1", "quantity": 1}]}, 422, None),
        ({"items": [{"sku": "SKU-USD", "quantity": 1}]}, 422, "/problems/currency-mismatch"),
        ({"currency": "USD"}, 422, "/problems/currency-mismatch"),
        ({"items": [{"sku": "SKU-1", "quantity": 0}]}, 422, None),
        ({"items": [{"sku": "SKU-1", "quantity": 10**12}]}, 422, None),
        ({"items": []}, 422, None),
        (
            {"items": [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-1", "quantity": 2}]},
            422,
            "/problems/invalid-order",
        ),
        ({"currency": "eur"}, 422, None),
        ({"customerId": ""}, 422, None),
        ({"customerId": "c\u0000"}, 422, None),
        ({"paymentMethod": "pm\u0000"}, 422, None),
        ({"unexpected": True}, 422, None),
    ],
)
async def test_bad_orders_are_refused_with_a_problem(
    client: httpx.AsyncClient,
    change: dict[str, Any],
    status: int,
    expected: str | None,
) -> None:
    response = await client.post("/orders", json={**ORDER, **change}, headers=key())
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    if expected:
        assert response.json()["type"] == expected


async def test_unknown_skus_are_named(client: httpx.AsyncClient) -> None:
    items = [{"sku": "NOPE-2", "quantity": 1}, {"sku": "SKU-1", "quantity": 1}]
    response = await client.post("/orders", json={**ORDER, "items": items}, headers=key())
    assert response.status_code == 422
    problem = response.json()
    assert (problem["type"], problem["skus"]) == ("/problems/unknown-sku", ["NOPE-2"])
    assert "NOPE-2" in problem["detail"]


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[]", b'"order"', b"", '{"customerId": "\u00e9"'.encode()],
    ids=["malformed", "array", "string", "empty", "truncated"],
)
async def test_malformed_bodies_are_a_4xx_problem(
    client: httpx.AsyncClient, content: bytes
) -> None:
    response = await client.post(
        "/orders", content=content, headers={**key(), "Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM


async def test_an_oversized_body_is_refused(
    client: httpx.AsyncClient, settings: OrdersSettings
) -> None:
    huge = {**ORDER, "paymentMethod": "x" * (settings.http.max_body_bytes + 1)}
    response = await client.post("/orders", json=huge, headers=key())
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


async def test_catalog_down_is_a_503_and_the_key_stays_usable(
    client: httpx.AsyncClient, catalog: MemoryCatalog, engine: AsyncEngine
) -> None:
    customer = f"c-down-{uuid.uuid4().hex[:6]}"
    headers = key()
    catalog.unavailable = True
    try:
        down = await client.post("/orders", json={**ORDER, "customerId": customer}, headers=headers)
    finally:
        catalog.unavailable = False
    assert down.status_code == 503
    assert down.headers["content-type"] == PROBLEM
    assert down.headers["retry-after"] == "7"
    assert await orders_of(engine, customer) == 0

    retried = await client.post("/orders", json={**ORDER, "customerId": customer}, headers=headers)
    assert retried.status_code == 201
    assert await orders_of(engine, customer) == 1


# --- reading orders -------------------------------------------------------------------------


async def test_an_order_reads_back_with_its_timeline(client: httpx.AsyncClient) -> None:
    created = (await client.post("/orders", json=ORDER, headers=key())).json()
    response = await client.get(f"/orders/{created['orderId']}")
    assert response.status_code == 200
    body = response.json()
    assert {k: v for k, v in body.items() if k != "timeline"} == {
        **created,
        "reason": "",
        "updatedAt": created["updatedAt"],
    }
    assert [(e["step"], e["phase"]) for e in body["timeline"]] == [("created", "Pending")]


async def test_unknown_and_malformed_order_ids(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"/orders/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert (await client.get("/orders/not-a-uuid")).status_code == 422


async def test_listing_pages_and_filters(
    client: httpx.AsyncClient, internal: httpx.AsyncClient
) -> None:
    customer = f"c-list-{uuid.uuid4().hex[:6]}"
    created = [
        (await client.post("/orders", json={**ORDER, "customerId": customer}, headers=key())).json()
        for _ in range(5)
    ]
    cancelled = created[2]["orderId"]
    assert (
        await internal.post(f"/orders/{cancelled}/cancel", json={"reason": "OutOfStock"})
    ).status_code == 200

    seen: list[str] = []
    params: dict[str, Any] = {"customerId": customer, "limit": 2}
    while True:
        page = (await client.get("/orders", params=params)).json()
        seen += [order["orderId"] for order in page["items"]]
        if page["nextCursor"] is None:
            break
        params["cursor"] = page["nextCursor"]
    assert seen == [order["orderId"] for order in reversed(created)]

    only = (
        await client.get("/orders", params={"customerId": customer, "phase": "Cancelled"})
    ).json()
    assert [order["orderId"] for order in only["items"]] == [cancelled]
    assert only["items"][0]["reason"] == "OutOfStock"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"cursor": "garbage"},
        {"phase": "Shipped"},
        {"customerId": "c\u0000"},
    ],
)
async def test_bad_listing_parameters_are_a_4xx_problem(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await client.get("/orders", params=params)
    assert response.status_code in (400, 422)
    assert response.headers["content-type"] == PROBLEM


# --- the operator's commands ---------------------------------------------------------------


async def test_complete_is_idempotent_and_cancel_then_conflicts(
    client: httpx.AsyncClient, internal: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    order_id = (await client.post("/orders", json=ORDER, headers=key())).json()["orderId"]

    first = await internal.post(f"/orders/{order_id}/complete")
    again = await internal.post(f"/orders/{order_id}/complete")
    conflict = await internal.post(f"/orders/{order_id}/cancel", json={"reason": "late"})

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["phase"] == "Completed"
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == PROBLEM
    assert conflict.json()["phase"] == "Completed"
    assert await rows_of(engine, order_id) == (1, 2)  # order.created + one order.completed


async def test_cancel_is_idempotent_and_complete_then_conflicts(
    client: httpx.AsyncClient, internal: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    order_id = (await client.post("/orders", json=ORDER, headers=key())).json()["orderId"]

    first = await internal.post(f"/orders/{order_id}/cancel", json={"reason": "OutOfStock"})
    again = await internal.post(f"/orders/{order_id}/cancel", json={"reason": "other"})
    conflict = await internal.post(f"/orders/{order_id}/complete")

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert (first.json()["phase"], first.json()["reason"]) == ("Cancelled", "OutOfStock")
    assert conflict.status_code == 409
    assert await rows_of(engine, order_id) == (1, 2)


@pytest.mark.parametrize("reason", [None, "", "   ", "nul\u0000"])
async def test_cancel_needs_a_reason(
    client: httpx.AsyncClient, internal: httpx.AsyncClient, reason: str | None
) -> None:
    order_id = (await client.post("/orders", json=ORDER, headers=key())).json()["orderId"]
    body = {} if reason is None else {"reason": reason}
    response = await internal.post(f"/orders/{order_id}/cancel", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


async def test_commands_on_an_unknown_order_are_a_404(internal: httpx.AsyncClient) -> None:
    assert (await internal.post(f"/orders/{uuid.uuid4()}/complete")).status_code == 404


def terms_of(order: dict[str, Any]) -> dict[str, Any]:
    """An Order spec's terms, as the operator sends them to verify."""
    return {
        "customerId": order["customerId"],
        "items": order["items"],
        "amount": order["amount"],
        "paymentMethod": order["paymentMethod"],
    }


async def test_verify_confirms_the_terms_the_order_was_placed_on(
    client: httpx.AsyncClient, internal: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    placed = (await client.post("/orders", json=ORDER, headers=key())).json()
    response = await internal.post(f"/orders/{placed['orderId']}/verify", json=terms_of(placed))
    assert response.status_code == 200
    assert response.json()["phase"] == "Pending"
    assert await rows_of(engine, placed["orderId"]) == (1, 1)  # read-only: no event


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"customerId": "someone-else"}, "customerId"),
        ({"paymentMethod": "pm_card_other"}, "paymentMethod"),
        ({"amount": {"value": 1, "currency": "EUR"}}, "amount is 1 EUR"),
        ("more of the first line", "items differ"),
    ],
)
async def test_verify_refuses_other_terms_naming_what_differs(
    client: httpx.AsyncClient, internal: httpx.AsyncClient, change: Any, named: str
) -> None:
    placed = (await client.post("/orders", json=ORDER, headers=key())).json()
    terms = terms_of(placed)
    if isinstance(change, dict):
        terms.update(change)
    else:
        terms["items"] = [{**terms["items"][0], "quantity": terms["items"][0]["quantity"] + 1}]
    response = await internal.post(f"/orders/{placed['orderId']}/verify", json=terms)
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/terms-differ")
    assert any(named in d for d in response.json()["differences"])


async def test_verify_of_an_order_never_placed_is_a_404(internal: httpx.AsyncClient) -> None:
    terms = {
        "customerId": "c-by-hand",
        "items": [{"sku": "SKU-1", "quantity": 1, "unitPrice": 1}],
        "amount": {"value": 1, "currency": "EUR"},
        "paymentMethod": "pm_card_visa",
    }
    response = await internal.post(f"/orders/{uuid.uuid4()}/verify", json=terms)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_verify_needs_the_service_token(client: httpx.AsyncClient) -> None:
    placed = (await client.post("/orders", json=ORDER, headers=key())).json()
    response = await client.post(f"/orders/{placed['orderId']}/verify", json=terms_of(placed))
    assert response.status_code == 401
