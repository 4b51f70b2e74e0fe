"""The inventory HTTP API as the saga operator and the orders service call it.

The real app under uvicorn on a migrated database: the contract's shapes and status codes,
the service token on internal routes, and a 4xx problem+json (never a 500) for every kind of
bad input.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.integration.inventory.conftest import RunningApi, product

PROBLEM = "application/problem+json"


@pytest_asyncio.fixture
async def client(inventory_api: RunningApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=inventory_api.base_url, timeout=10) as http:
        yield http


def sku(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def reserve(
    client: httpx.AsyncClient, api: RunningApi, order: uuid.UUID, *items: tuple[str, int]
) -> httpx.Response:
    return await client.post(
        "/reservations",
        json={"orderId": str(order), "items": [{"sku": s, "quantity": q} for s, q in items]},
        headers=api.auth,
    )


def assert_problem(response: httpx.Response, status: int, kind: str | None = None) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    if kind is not None:
        assert body["type"].endswith(f"/{kind}"), body
    return body


async def test_products_are_listed_by_pages_and_read_one_by_one(
    client: httpx.AsyncClient,
) -> None:
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 4}
    while True:
        response = await client.get("/products", params=params)
        assert response.status_code == 200
        page = response.json()
        seen.extend(page["items"])
        if page["nextCursor"] is None:
            break
        params["cursor"] = page["nextCursor"]
    skus = [p["sku"] for p in seen]
    assert skus == sorted(skus) and len(set(skus)) == len(skus)
    assert {"SKU-1", "SKU-7", "SKU-10"} <= set(skus)

    one = (await client.get("/products/SKU-1")).json()
    assert one == {
        "sku": "SKU-1",
        "name": "Espresso beans, 1 kg",
        "price": {"value": 1999, "currency": "EUR"},
        "available": one["available"],
        "lowStockThreshold": 50,
    }
    assert_problem(await client.get("/products/NO-SUCH-SKU"), 404, "product-not-found")
    assert_problem(await client.get("/products", params={"cursor": "%%%"}), 422)
    assert_problem(await client.get("/products", params={"limit": 0}), 422)


async def test_reserve_repeat_and_commit_follow_the_contract(
    client: httpx.AsyncClient, inventory_api: RunningApi
) -> None:
    a = sku()
    await inventory_api.db.add_products(product(a, 10))
    order = uuid.uuid4()

    created = await reserve(client, inventory_api, order, (a, 3))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "reserved"
    assert body["orderId"] == str(order)
    assert body["items"] == [{"sku": a, "quantity": 3}]
    assert body["expiresAt"] is not None

    repeated = await reserve(client, inventory_api, order, (a, 3))
    assert repeated.status_code == 200
    assert repeated.json() == body
    assert (await client.get(f"/products/{a}")).json()["available"] == 7

    committed = await client.post(f"/reservations/{order}/commit", headers=inventory_api.auth)
    assert committed.status_code == 200
    assert committed.json()["status"] == "committed"
    again = await client.post(f"/reservations/{order}/commit", headers=inventory_api.auth)
    assert again.json() == committed.json()
    refused = await client.post(
        f"/reservations/{order}/release", json={"reason": "late"}, headers=inventory_api.auth
    )
    assert_problem(refused, 409, "reservation-committed")
    assert_problem(await reserve(client, inventory_api, order, (a, 4)), 409, "reservation-mismatch")
    assert_problem(
        await client.post(f"/reservations/{uuid.uuid4()}/commit", headers=inventory_api.auth),
        404,
        "reservation-not-found",
    )


async def test_out_of_stock_is_a_409_with_a_reason_per_line_also_on_repeat(
    client: httpx.AsyncClient, inventory_api: RunningApi
) -> None:
    a, b = sku("A"), sku("B")
    missing = sku("Z")
    await inventory_api.db.add_products(product(a, 2), product(b, 5))
    order = uuid.uuid4()
    answers = [
        await reserve(client, inventory_api, order, (a, 3), (b, 1), (missing, 1)) for _ in range(2)
    ]
    bodies = [assert_problem(r, 409, "out-of-stock") for r in answers]
    assert bodies[0] == bodies[1]
    assert sorted(bodies[0]["lines"], key=lambda line: line["sku"]) == [
        {"sku": a, "requested": 3, "available": 2, "reason": "out_of_stock"},
        {"sku": missing, "requested": 1, "available": 0, "reason": "unknown_sku"},
    ]
    assert (await client.get(f"/products/{b}")).json()["available"] == 5
    assert [e.type for e in await inventory_api.db.events(order)] == ["inventory.rejected"]


async def test_a_release_first_leaves_a_tombstone_and_the_late_reserve_is_closed(
    client: httpx.AsyncClient, inventory_api: RunningApi
) -> None:
    a = sku()
    await inventory_api.db.add_products(product(a, 10))
    order = uuid.uuid4()
    released = await client.post(
        f"/reservations/{order}/release",
        json={"reason": "payment deadline"},
        headers={**inventory_api.auth, "X-Correlation-ID": "saga-corr-1"},
    )
    assert released.status_code == 200
    assert (released.json()["status"], released.json()["items"]) == ("released", [])
    no_body = await client.post(f"/reservations/{order}/release", headers=inventory_api.auth)
    assert no_body.status_code == 200

    late = await reserve(client, inventory_api, order, (a, 1))
    assert assert_problem(late, 409, "reservation-closed")["reservationStatus"] == "released"
    assert_problem(
        await client.post(f"/reservations/{order}/commit", headers=inventory_api.auth),
        409,
        "reservation-closed",
    )
    [event] = await inventory_api.db.events(order)
    assert (event.type, event.correlation_id) == ("inventory.released", "saga-corr-1")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic xyz"}],
    ids=["missing", "wrong", "not-bearer"],
)
async def test_internal_routes_require_the_service_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    order = uuid.uuid4()
    for path, body in (
        ("/reservations", {"orderId": str(order), "items": [{"sku": "SKU-1", "quantity": 1}]}),
        (f"/reservations/{order}/commit", None),
        (f"/reservations/{order}/release", {"reason": "x"}),
    ):
        response = await client.post(path, json=body, headers=headers)
        assert_problem(response, 401, "unauthorized")


def lines(n: int) -> list[dict[str, Any]]:
    return [{"sku": f"S-{i}", "quantity": 1} for i in range(n)]


ORDER = "0d6cbd0c-5b0a-4a4e-9a56-2a4d0b7c1e11"
BAD_BODIES: dict[str, tuple[bytes | dict[str, Any], int]] = {
    "malformed JSON": (b'{"orderId": ', 422),
    "not an object": (b"[1, 2]", 422),
    "empty body": (b"", 422),
    "quantity 0": ({"orderId": ORDER, "items": [{"sku": "SKU-1", "quantity": 0}]}, 422),
    "quantity 10001": ({"orderId": ORDER, "items": [{"sku": "SKU-1", "quantity": 10_001}]}, 422),
    "quantity as text": ({"orderId": ORDER, "items": [{"sku": "SKU-1", "quantity": "a"}]}, 422),
    "empty items": ({"orderId": ORDER, "items": []}, 422),
    "no items": ({"orderId": ORDER}, 422),
    "duplicate SKUs": (
        {"orderId": ORDER, "items": [{"sku": "SKU-1", "quantity": 1}] * 2},
        422,
    ),
    "101 lines": ({"orderId": ORDER, "items": lines(101)}, 422),
    "invalid SKU": ({"orderId": ORDER, "items": [{"sku": "no spaces", "quantity": 1}]}, 422),
    "SKU too long": ({"orderId": ORDER, "items": [{"sku": "A" * 65, "quantity": 1}]}, 422),
    "non-uuid orderId": ({"orderId": "order-1", "items": lines(1)}, 422),
    "unknown field": ({"orderId": ORDER, "items": lines(1), "extra": 1}, 422),
    "oversized body": (b'{"pad": "' + b"x" * 70_000 + b'"}', 413),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
async def test_bad_input_is_a_4xx_problem_never_a_500(
    client: httpx.AsyncClient, inventory_api: RunningApi, case: str
) -> None:
    body, status = BAD_BODIES[case]
    headers = {**inventory_api.auth, "Content-Type": "application/json"}
    if isinstance(body, bytes):
        response = await client.post("/reservations", content=body, headers=headers)
    else:
        response = await client.post("/reservations", json=body, headers=headers)
    assert_problem(response, status)
    assert await inventory_api.db.events(uuid.UUID(ORDER)) == []


@pytest.mark.parametrize(
    ("items", "location"),
    [
        ([{"sku": "SKU-1", "quantity": True}], "body.items.0.quantity"),
        ([{"sku": "SKU-1", "quantity": "2"}], "body.items.0.quantity"),
        ([{"sku": "SKU-1", "quantity": 2.0}], "body.items.0.quantity"),
        (
            [{"sku": "SKU-2", "quantity": 1}, {"sku": "SKU-1", "quantity": [1]}],
            "body.items.1.quantity",
        ),
        ([{"sku": " ", "quantity": 1}], "body.items.0.sku"),
    ],
    ids=["true", '"2"', "2.0", "the second line's", "blank sku"],
)
async def test_a_reservation_takes_no_coerced_quantity_and_names_the_field(
    client: httpx.AsyncClient,
    inventory_api: RunningApi,
    items: list[dict[str, Any]],
    location: str,
) -> None:
    order_id = uuid.uuid4()
    body = {"orderId": str(order_id), "items": items}
    response = await client.post("/reservations", json=body, headers=inventory_api.auth)
    assert_problem(response, 422)
    assert [error["location"] for error in response.json()["errors"]] == [location]
    assert await inventory_api.db.events(order_id) == []


async def test_bad_paths_and_release_bodies_are_4xx_problems(
    client: httpx.AsyncClient, inventory_api: RunningApi
) -> None:
    auth = inventory_api.auth
    assert_problem(await client.post("/reservations/not-a-uuid/commit", headers=auth), 422)
    too_long = {"reason": "x" * 501}
    assert_problem(
        await client.post(f"/reservations/{uuid.uuid4()}/release", json=too_long, headers=auth),
        422,
    )
    assert_problem(await client.get("/nowhere"), 404)
    assert_problem(await client.delete("/products"), 405)


async def test_probes_metrics_and_openapi(
    client: httpx.AsyncClient, inventory_api: RunningApi
) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()["checks"]) == (200, {"database": "ok"})
    order = uuid.uuid4()
    await reserve(client, inventory_api, order, ("SKU-5", 1))
    metrics = (await client.get("/metrics")).text
    assert 'inventory_reservations_total{operation="reserve",outcome="reserved"}' in metrics
    assert 'inventory_stock_available{sku="SKU-5"}' in metrics
    document = (await client.get("/openapi.json")).json()
    assert {"/products", "/products/{sku}", "/reservations"} <= set(document["paths"])
    assert "/reservations/{orderId}/commit" in document["paths"]
