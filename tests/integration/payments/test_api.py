"""The payments HTTP API in-process: status codes, problem+json, auth, the saga's contract."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from services.payments.adapters.simulated import SimulatedProvider
from tests.integration.payments.api_support import (
    AUTH,
    payment_body,
    payments_settings,
    running_app,
)
from tests.integration.payments.support import events_for

pytestmark = pytest.mark.platform

Api = tuple[httpx.AsyncClient, SimulatedProvider]


@pytest_asyncio.fixture(scope="module")
async def api(payments_db: str, redis: str, kafka: str) -> AsyncIterator[Api]:
    async with running_app(payments_settings(payments_db, redis, kafka)) as running:
        yield running


def problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + kind) and body["status"] == status
    return body


async def test_an_approved_payment_answers_201_then_200(api: Api, engine: AsyncEngine) -> None:
    client, provider = api
    calls = provider.calls["authorize"]
    body = payment_body()
    first = await client.post("/payments", json=body, headers=AUTH)
    assert first.status_code == 201, first.text
    payment = first.json()
    assert payment["status"] == "authorized" and payment["orderId"] == body["orderId"]
    assert payment["provider"] == "simulated"
    assert payment["providerReference"].startswith("pi_sim_")
    assert payment["amount"] == {"value": 1999, "currency": "EUR"}
    again = await client.post("/payments", json=body, headers=AUTH)
    assert again.status_code == 200 and again.json() == payment
    assert provider.calls["authorize"] == calls + 1
    assert len(await events_for(engine, uuid.UUID(body["orderId"]))) == 1


async def test_the_callers_correlation_id_travels_with_the_events(
    api: Api, engine: AsyncEngine
) -> None:
    client, _ = api
    body = payment_body()
    headers = {**AUTH, "X-Correlation-ID": "saga-42"}
    assert (await client.post("/payments", json=body, headers=headers)).status_code == 201
    refund = await client.post(f"/payments/{body['orderId']}/refund", headers=headers)
    assert refund.status_code == 200
    events = await events_for(engine, uuid.UUID(body["orderId"]))
    assert [e.correlation_id for e in events] == ["saga-42", "saga-42"]
    too_long = {**AUTH, "X-Correlation-ID": "x" * 129}
    response = await client.post("/payments", json=payment_body(), headers=too_long)
    problem(response, 422, "invalid-request")


async def test_a_declined_payment_answers_402_every_time(api: Api) -> None:
    client, provider = api
    calls = provider.calls["authorize"]
    body = payment_body(payment_method="pm_card_chargeDeclinedExpiredCard")
    for _ in range(2):
        declined = problem(
            await client.post("/payments", json=body, headers=AUTH), 402, "payment-declined"
        )
        assert declined["declineCode"] == "expired_card"
        assert declined["orderId"] == body["orderId"] and declined["paymentId"]
    assert provider.calls["authorize"] == calls + 1


async def test_a_pending_payment_answers_202(api: Api) -> None:
    client, _ = api
    response = await client.post(
        "/payments",
        json=payment_body(payment_method="pm_card_authenticationRequired"),
        headers=AUTH,
    )
    assert response.status_code == 202 and response.json()["status"] == "pending"


async def test_a_refund_then_a_late_authorization_is_refused(api: Api) -> None:
    client, provider = api
    body = payment_body()
    refund = await client.post(f"/payments/{body['orderId']}/refund", headers=AUTH)
    assert refund.status_code == 200
    assert refund.json() == {"orderId": body["orderId"], "status": "nothing_to_refund"}
    calls = provider.calls["authorize"]
    problem(await client.post("/payments", json=body, headers=AUTH), 409, "payment-closed")
    assert provider.calls["authorize"] == calls


async def test_refunding_an_authorized_payment(api: Api, engine: AsyncEngine) -> None:
    client, _ = api
    body = payment_body()
    assert (await client.post("/payments", json=body, headers=AUTH)).status_code == 201
    for _ in range(2):
        refund = await client.post(f"/payments/{body['orderId']}/refund", headers=AUTH)
        assert refund.json()["status"] == "refunded"
    types = [e.type for e in await events_for(engine, uuid.UUID(body["orderId"]))]
    assert types == ["payment.authorized", "payment.refunded"]


async def test_a_different_amount_for_the_same_order_is_a_conflict(api: Api) -> None:
    client, _ = api
    body = payment_body()
    assert (await client.post("/payments", json=body, headers=AUTH)).status_code == 201
    body["amount"]["value"] += 1
    problem(await client.post("/payments", json=body, headers=AUTH), 409, "payment-mismatch")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "payments-test-token"}],
)
async def test_internal_endpoints_need_the_service_token(api: Api, headers: dict[str, str]) -> None:
    client, provider = api
    calls = provider.calls["authorize"]
    problem(
        await client.post("/payments", json=payment_body(), headers=headers), 401, "unauthorized"
    )
    problem(
        await client.post(f"/payments/{uuid.uuid4()}/refund", headers=headers), 401, "unauthorized"
    )
    assert provider.calls["authorize"] == calls


def with_amount(value: Any, currency: Any = "EUR") -> dict[str, Any]:
    body = payment_body()
    body["amount"] = {"value": value, "currency": currency}
    return body


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"orderId": ', "malformed JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[]", "not an object"),
        (json.dumps(with_amount(-100)).encode(), "negative amount"),
        (json.dumps(with_amount(0)).encode(), "zero amount"),
        (json.dumps(with_amount(10**15)).encode(), "absurd amount"),
        (json.dumps(with_amount(19.99)).encode(), "fractional amount"),
        (json.dumps(with_amount("1999")).encode(), "amount as text"),
        (json.dumps(with_amount(1999, "eur")).encode(), "lower-case currency"),
        (json.dumps(with_amount(1999, "EURO")).encode(), "four-letter currency"),
        (json.dumps({**payment_body(), "orderId": "order-1"}).encode(), "non-uuid order id"),
        (json.dumps({**payment_body(), "paymentMethod": ""}).encode(), "empty payment method"),
        (json.dumps({**payment_body(), "admin": True}).encode(), "unknown field"),
    ],
)
async def test_bad_input_is_a_4xx_problem(api: Api, content: bytes, why: str) -> None:
    client, provider = api
    calls = provider.calls["authorize"]
    response = await client.post(
        "/payments", content=content, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422), (why, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), why
    assert provider.calls["authorize"] == calls


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"customerId": "   "}, "body.customerId"),
        ({"customerId": "\u3000"}, "body.customerId"),
        ({"paymentMethod": " "}, "body.paymentMethod"),
        ({"paymentMethod": "pm card visa"}, "body.paymentMethod"),
        ({"amount": {"value": True, "currency": "EUR"}}, "body.amount.value"),
        ({"amount": {"value": 100_000_000, "currency": "EUR"}}, "body.amount.value"),
    ],
    ids=[
        "blank customer",
        "unicode-blank customer",
        "blank method",
        "method of three words",
        "amount true",
        "amount over the money range",
    ],
)
async def test_blank_ids_and_lax_amounts_are_a_422_naming_the_field(
    api: Api, change: dict[str, Any], location: str
) -> None:
    client, provider = api
    calls = provider.calls["authorize"]
    response = await client.post("/payments", json={**payment_body(), **change}, headers=AUTH)
    body = problem(response, 422, "invalid-request")
    assert [error["location"] for error in body["errors"]] == [location]
    assert provider.calls["authorize"] == calls


async def test_a_non_uuid_order_id_in_the_path_is_422(api: Api) -> None:
    client, _ = api
    problem(await client.post("/payments/not-a-uuid/refund", headers=AUTH), 422, "invalid-request")


async def test_an_oversized_body_is_413(api: Api) -> None:
    client, provider = api
    calls = provider.calls["authorize"]
    body = {**payment_body(), "customerId": "c" * 100_000}
    problem(await client.post("/payments", json=body, headers=AUTH), 413, "body-too-large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(100):
            yield b" " * 1024

    streamed = await client.post("/payments", content=chunks(), headers=AUTH)
    problem(streamed, 413, "body-too-large")
    assert provider.calls["authorize"] == calls


async def test_probes_and_metrics(api: Api) -> None:
    client, _ = api
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "database": "ok",
        "redis": "ok",
        "provider_circuit": "closed",
    }
    metrics = (await client.get("/metrics")).text
    for name in ("payment_outcomes_total", "payment_failures_total", "circuit_breaker_state"):
        assert name in metrics
    document = (await client.get("/openapi.json")).json()
    assert set(document["paths"]) == {
        "/payments",
        "/payments/{order_id}/refund",
        "/payments/webhook",
    }
