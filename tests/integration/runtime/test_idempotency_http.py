"""``run_idempotent`` in a FastAPI route, over HTTP, on the real Redis.

A small app stands in for orders' ``POST /orders``: its handler counts how often it really
runs, so each test can tell a replay from a second effect.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import pytest
import pytest_asyncio
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.asyncio import Redis

from services.runtime import idempotency_http
from services.runtime.idempotency import IdempotencyStore

ORDER = {"customerId": "c-1", "items": [{"sku": "SKU-1", "quantity": 2}]}


class CreateOrder(BaseModel):
    customerId: str
    items: list[dict[str, Any]]


class Rejected(Exception):
    """A business rejection the app renders as a 409 problem."""


@dataclass
class Orders:
    """What the handler does on each run; ``runs`` counts real executions."""

    runs: int = 0
    answer: Callable[[int], Awaitable[Response]] | None = None
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def create(self, order: CreateOrder) -> Response:
        self.runs += 1
        if self.answer is not None:
            return await self.answer(self.runs)
        content = {"orderId": f"o-{self.runs}", "customerId": order.customerId}
        return JSONResponse(content, status_code=201, headers={"Location": f"/o-{self.runs}"})


def render(error: Exception) -> Response | None:
    if isinstance(error, Rejected):
        return JSONResponse({"title": "rejected"}, status_code=409)
    return None


async def customer_scope(request: Request) -> str:
    return request.headers.get("x-customer", "")


def build_app(store: IdempotencyStore, orders: Orders) -> FastAPI:
    app = FastAPI()
    app.add_exception_handler(
        idempotency_http.IdempotencyError, idempotency_http.idempotency_error_handler
    )

    @app.post("/orders", responses=idempotency_http.RESPONSES)
    async def create_order(
        order: CreateOrder,
        request: Request,
        key: idempotency_http.IdempotencyKey,
        customer: Annotated[str, Depends(customer_scope)],
    ) -> Response:
        return await idempotency_http.run_idempotent(
            store,
            request,
            key,
            lambda: orders.create(order),
            scope=customer,
            render_error=render,
        )

    return app


@pytest_asyncio.fixture
async def store(redis: str) -> AsyncIterator[IdempotencyStore]:
    client = Redis.from_url(redis)
    namespace = f"test-idem-http-{uuid.uuid4().hex}"
    yield IdempotencyStore(client, namespace=namespace)
    async for key in client.scan_iter(match=f"{namespace}:*"):
        await client.delete(key)
    await client.aclose()


@pytest.fixture
def orders() -> Orders:
    return Orders()


@pytest_asyncio.fixture
async def api(store: IdempotencyStore, orders: Orders) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(store, orders), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as api:
        yield api


def post(api: httpx.AsyncClient, body: object, key: str | None = "k-1", **headers: str) -> Any:
    if key is not None:
        headers["Idempotency-Key"] = key
    return api.post("/orders", json=body, headers=headers)


async def test_a_repeat_gets_the_first_answer_without_a_second_effect(
    api: httpx.AsyncClient, orders: Orders
) -> None:
    first = await post(api, ORDER)
    again = await post(api, dict(reversed(ORDER.items())))  # same document, other key order

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"] == "/o-1"
    assert again.headers["content-type"] == "application/json"
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert orders.runs == 1


async def test_the_same_key_with_another_body_is_refused_with_422(
    api: httpx.AsyncClient, orders: Orders
) -> None:
    await post(api, ORDER)
    reused = await post(api, {**ORDER, "customerId": "c-2"})

    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    problem = reused.json()
    assert problem["status"] == 422
    assert "Idempotency-Key" in problem["detail"] and "different request" in problem["detail"]
    assert orders.runs == 1


async def test_a_concurrent_repeat_is_told_to_retry_later(
    api: httpx.AsyncClient, orders: Orders
) -> None:
    async def slow(run: int) -> Response:
        await orders.gate.wait()
        return JSONResponse({"orderId": f"o-{run}"}, status_code=201)

    orders.answer = slow
    first = asyncio.create_task(post(api, ORDER))
    async with asyncio.timeout(5):
        while orders.runs == 0:
            await asyncio.sleep(0.005)

    concurrent = await post(api, ORDER)
    orders.gate.set()

    assert concurrent.status_code == 409
    assert concurrent.json()["status"] == 409
    assert 1 <= int(concurrent.headers["retry-after"]) <= 30
    assert (await first).status_code == 201
    assert (await post(api, ORDER)).headers["idempotent-replayed"] == "true"
    assert orders.runs == 1


async def test_a_5xx_answer_is_not_stored_and_the_retry_runs(
    api: httpx.AsyncClient, orders: Orders
) -> None:
    async def flaky(run: int) -> Response:
        status = 503 if run == 1 else 201
        return JSONResponse({"run": run}, status_code=status)

    orders.answer = flaky
    assert (await post(api, ORDER)).status_code == 503
    retried = await post(api, ORDER)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert orders.runs == 2


async def test_a_crash_releases_the_key(api: httpx.AsyncClient, orders: Orders) -> None:
    async def crash_once(run: int) -> Response:
        if run == 1:
            raise RuntimeError("database went away")
        return JSONResponse({"run": run}, status_code=201)

    orders.answer = crash_once
    assert (await post(api, ORDER)).status_code == 500
    assert (await post(api, ORDER)).status_code == 201
    assert orders.runs == 2


async def test_a_4xx_answer_is_final_and_replayed(api: httpx.AsyncClient, orders: Orders) -> None:
    async def reject(run: int) -> Response:
        raise Rejected

    orders.answer = reject
    first = await post(api, ORDER)
    again = await post(api, ORDER)

    assert first.status_code == again.status_code == 409
    assert again.json() == {"title": "rejected"}
    assert again.headers["idempotent-replayed"] == "true"
    assert orders.runs == 1


@pytest.mark.parametrize("key", [None, "", "x" * 256, "caf\u00e9"])
async def test_a_missing_or_malformed_key_is_a_400(
    api: httpx.AsyncClient, orders: Orders, key: str | None
) -> None:
    if key is not None and not key.isascii():
        # httpx refuses to send non-ASCII header text; send the UTF-8 bytes raw.
        answer = await api.post("/orders", json=ORDER, headers={b"Idempotency-Key": key.encode()})
    else:
        answer = await post(api, ORDER, key=key)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert orders.runs == 0


async def test_clients_in_different_scopes_may_use_the_same_key(
    api: httpx.AsyncClient, orders: Orders
) -> None:
    alice = await post(api, ORDER, **{"x-customer": "alice"})
    bob = await post(api, {**ORDER, "customerId": "c-2"}, **{"x-customer": "bob"})
    assert alice.status_code == bob.status_code == 201
    assert orders.runs == 2


def test_the_openapi_document_lists_the_idempotency_answers(store: IdempotencyStore) -> None:
    operation = build_app(store, Orders()).openapi()["paths"]["/orders"]["post"]
    assert {"400", "409", "422"} <= set(operation["responses"])
    header = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    assert header["in"] == "header"
