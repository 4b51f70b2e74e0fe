"""``POST /orders`` takes JSON as written: no coerced number, no blank id, no unpayable amount.

The real orders app (uvicorn, Postgres, Redis) with the in-memory catalog, as in test_api.py.
Each refusal is a 422 problem+json that names the field (``errors[].location``, as every
validation problem does) and stores nothing: no order, no line, no event, no outbox row.
Issue 10, holes 5 and 6: ``"quantity": true`` was taken as 1, ``"2"`` as 2, a whitespace-only
``customerId`` was stored, and an order totalling more than payments can charge was placed
and then reported as a declined card.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from services.orders import bootstrap
from services.orders.domain.catalog import ProductQuote
from services.orders.settings import OrdersSettings
from services.runtime import money
from tests.integration.orders.servers import serve_in_thread
from tests.integration.orders.support import PRODUCTS, MemoryCatalog, count_rows
from tests.integration.orders.test_api import (
    ORDER,
    PROBLEM,
    key,
    orders_settings,
    service_token_headers,
    terms_of,
)

# Products whose prices reach the ends of the money range.
DEAR = ProductQuote("SKU-DEAR", money.MAX_AMOUNT, "EUR")  # one is exactly the maximum
FREE = ProductQuote("SKU-FREE", 0, "EUR")


@pytest.fixture(scope="module")
def app_settings(orders_db: str, redis: str, kafka: str) -> OrdersSettings:
    return orders_settings(orders_db, redis, kafka)


@pytest.fixture(scope="module")
def orders_url(app_settings: OrdersSettings) -> Iterator[str]:
    catalog = MemoryCatalog({**PRODUCTS, DEAR.sku: DEAR, FREE.sku: FREE})
    with serve_in_thread(bootstrap.create_app(app_settings, catalog=catalog)) as url:
        yield url


@pytest_asyncio.fixture
async def client(orders_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=orders_url, timeout=10) as client:
        yield client


def item(sku: str, quantity: Any) -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity}


def locations(problem: dict[str, Any]) -> list[str]:
    return [error["location"] for error in problem.get("errors", [])]


@pytest.mark.parametrize(
    ("change", "location"),
    [
        pytest.param({"items": [item("SKU-1", True)]}, "body.items.0.quantity", id="quantity true"),
        pytest.param({"items": [item("SKU-1", False)]}, "body.items.0.quantity", id="false"),
        pytest.param({"items": [item("SKU-1", "2")]}, "body.items.0.quantity", id='"2"'),
        pytest.param({"items": [item("SKU-1", 2.0)]}, "body.items.0.quantity", id="2.0"),
        pytest.param(
            {"items": [item("SKU-2", 1), item("SKU-1", "1")]},
            "body.items.1.quantity",
            id="the second line's",
        ),
        pytest.param({"customerId": "   "}, "body.customerId", id="customerId spaces"),
        pytest.param({"customerId": "\t\n"}, "body.customerId", id="customerId tab newline"),
        pytest.param({"customerId": "\u3000\u00a0"}, "body.customerId", id="unicode spaces"),
        pytest.param({"customerId": 42}, "body.customerId", id="customerId a number"),
        pytest.param({"paymentMethod": " "}, "body.paymentMethod", id="paymentMethod blank"),
        pytest.param({"paymentMethod": "pm card"}, "body.paymentMethod", id="two words"),
        pytest.param({"items": [item(" ", 1)]}, "body.items.0.sku", id="sku blank"),
        pytest.param(
            {"items": [item(DEAR.sku, 1), item("SKU-2", 1)]},
            "body.items",
            id="amount one line over the maximum",
        ),
        pytest.param(
            {"items": [item("SKU-3", 8_101)]},  # 12,345 x 8,101 = 100,006,845
            "body.items",
            id="amount over the maximum by quantity",
        ),
        pytest.param({"items": [item(FREE.sku, 3)]}, "body.items", id="amount zero"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, change: dict[str, Any], location: str
) -> None:
    before = await count_rows(engine)
    response = await client.post("/orders", json={**ORDER, **change}, headers=key())

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert locations(problem) == [location], problem
    if problem["type"] == "/problems/invalid-request":  # the amount's is checked below
        assert location in problem["detail"]
    assert await count_rows(engine) == before


async def test_an_amount_over_the_maximum_says_the_amount_and_the_range(
    client: httpx.AsyncClient,
) -> None:
    items = [item(DEAR.sku, 1), item("SKU-2", 1)]
    response = await client.post("/orders", json={**ORDER, "items": items}, headers=key())

    problem = response.json()
    assert (response.status_code, problem["type"]) == (422, "/problems/amount-out-of-range")
    assert problem["amount"] == {
        "value": money.MAX_AMOUNT + 500,
        "minimum": money.MIN_AMOUNT,
        "maximum": money.MAX_AMOUNT,
    }
    assert f"total {money.MAX_AMOUNT + 500} minor units" in problem["detail"]


@pytest.mark.parametrize(
    "items",
    [[item(DEAR.sku, 1)], [item(FREE.sku, 1), item("SKU-2", 1)]],
    ids=["exactly the maximum", "a free line in a paid order"],
)
async def test_the_ends_of_the_money_range_are_taken(
    client: httpx.AsyncClient, engine: AsyncEngine, items: list[dict[str, Any]]
) -> None:
    before = await count_rows(engine)
    response = await client.post("/orders", json={**ORDER, "items": items}, headers=key())
    assert response.status_code == 201, response.text
    assert (await count_rows(engine))["orders"] == before["orders"] + 1


async def test_a_customer_id_with_spaces_around_a_visible_character_is_taken(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/orders", json={**ORDER, "customerId": " c 1 "}, headers=key())
    assert response.status_code == 201, response.text
    assert response.json()["customerId"] == " c 1 "  # stored as sent, not trimmed


# Any JSON value but an integer, as a quantity.
not_integers = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=3,
)


@settings(max_examples=40, deadline=None)
@given(quantity=not_integers)
@example(quantity=True)
@example(quantity="2")
@example(quantity=2.0)
@example(quantity=[1])
def test_no_json_value_but_an_integer_is_a_quantity(orders_url: str, quantity: Any) -> None:
    customer = f"c-strict-{uuid.uuid4().hex[:8]}"
    body = {**ORDER, "customerId": customer, "items": [item("SKU-1", quantity)]}
    with httpx.Client(base_url=orders_url, timeout=10) as http:
        response = http.post(
            "/orders",
            content=json.dumps(body),
            headers={**key(), "Content-Type": "application/json"},
        )
        assert response.status_code == 422, (quantity, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert locations(response.json()) == ["body.items.0.quantity"]
        stored = http.get("/orders", params={"customerId": customer}).json()
        assert stored["items"] == []


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"customerId": "  "}, "body.customerId"),
        ({"paymentMethod": "pm card"}, "body.paymentMethod"),
        (
            {"items": [{"sku": "SKU-1", "quantity": True, "unitPrice": 1999}]},
            "body.items.0.quantity",
        ),
        (
            {"items": [{"sku": "SKU-1", "quantity": 1, "unitPrice": "1999"}]},
            "body.items.0.unitPrice",
        ),
        ({"amount": {"value": money.MAX_AMOUNT + 1, "currency": "EUR"}}, "body.amount.value"),
        ({"amount": {"value": 0, "currency": "EUR"}}, "body.amount.value"),
    ],
)
async def test_terms_to_verify_are_read_as_strictly_as_an_order(
    client: httpx.AsyncClient,
    app_settings: OrdersSettings,
    change: dict[str, Any],
    location: str,
) -> None:
    """The saga's verify-order step sends an Order's spec: terms no order could have are a 422
    (the operator reads it as OrderMismatch), naming the field."""
    placed = (await client.post("/orders", json=ORDER, headers=key())).json()
    token = service_token_headers(app_settings.auth.service_token.get_secret_value())
    response = await client.post(
        f"/orders/{placed['orderId']}/verify",
        json={**terms_of(placed), **change},
        headers=token,
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert locations(response.json()) == [location]
