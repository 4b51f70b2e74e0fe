"""``POST /payments/webhook``: only correctly signed, fresh Stripe events have an effect, once.

Bodies are signed here the way Stripe signs them (tests/unit/payments/stripe_signing.py).
A refused request must record nothing: no webhook row, no payment change, no event.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.payments.adapters import tables
from services.payments.adapters.simulated import SimulatedProvider
from tests.integration.payments.api_support import (
    AUTH,
    payment_body,
    payments_settings,
    running_app,
)
from tests.integration.payments.support import events_for, payment_row
from tests.unit.payments.stripe_signing import intent_event, signature

pytestmark = pytest.mark.platform

Api = tuple[httpx.AsyncClient, SimulatedProvider]


@pytest_asyncio.fixture(scope="module")
async def api(payments_db: str, redis: str, kafka: str) -> AsyncIterator[Api]:
    async with running_app(payments_settings(payments_db, redis, kafka)) as running:
        yield running


async def pending_payment(client: httpx.AsyncClient) -> tuple[uuid.UUID, str]:
    body = payment_body(payment_method="pm_card_authenticationRequired")
    response = await client.post("/payments", json=body, headers=AUTH)
    assert response.status_code == 202
    return uuid.UUID(body["orderId"]), response.json()["providerReference"]


async def deliver(client: httpx.AsyncClient, body: bytes, header: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    return await client.post("/payments/webhook", content=body, headers=headers)


async def webhook_rows(engine: AsyncEngine, event_id: str) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(func.count())
            .select_from(tables.webhook_events)
            .where(tables.webhook_events.c.event_id == event_id)
        )
    return int(count or 0)


@pytest.mark.parametrize("how", ["missing", "wrong secret", "stale", "tampered", "garbage header"])
async def test_an_unverified_event_is_refused_and_records_nothing(
    api: Api, engine: AsyncEngine, how: str
) -> None:
    client, _ = api
    order_id, reference = await pending_payment(client)
    event_id = f"evt_{uuid.uuid4().hex}"
    body = intent_event(
        "payment_intent.succeeded", intent_id=reference, order_id=order_id, event_id=event_id
    )
    header = {
        "missing": None,
        "wrong secret": signature(body, secret="whsec_not_ours"),
        "stale": signature(body, at=time.time() - 600),
        "tampered": signature(body.replace(b"succeeded", b"succeedeD")),
        "garbage header": "t=now,v1=nope",
    }[how]
    response = await deliver(client, body, header)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/invalid-webhook")
    assert await webhook_rows(engine, event_id) == 0
    assert (await payment_row(engine, order_id)).status == "pending"
    assert await events_for(engine, order_id) == []


async def test_a_valid_event_settles_the_payment_once(api: Api, engine: AsyncEngine) -> None:
    client, _ = api
    order_id, reference = await pending_payment(client)
    body = intent_event("payment_intent.succeeded", intent_id=reference, order_id=order_id)
    first = await deliver(client, body, signature(body))
    assert first.status_code == 200 and first.json() == {"received": True, "result": "applied"}
    # Stripe redelivers (it did not hear our 200): same event id, freshly signed.
    again = await deliver(client, body, signature(body, at=time.time() + 1))
    assert again.json() == {"received": True, "result": "duplicate"}
    assert (await payment_row(engine, order_id)).status == "authorized"
    [event] = await events_for(engine, order_id)
    assert event.type == "payment.authorized"
    repeat = await client.post(
        "/payments",
        json=payment_body(order_id, "pm_card_authenticationRequired"),
        headers=AUTH,
    )
    assert repeat.status_code == 200 and repeat.json()["status"] == "authorized"


async def test_a_failed_intent_fails_the_payment(api: Api, engine: AsyncEngine) -> None:
    client, _ = api
    order_id, reference = await pending_payment(client)
    body = intent_event(
        "payment_intent.payment_failed",
        intent_id=reference,
        order_id=order_id,
        last_error={"code": "card_declined", "decline_code": "authentication_required"},
    )
    assert (await deliver(client, body, signature(body))).json()["result"] == "applied"
    row = await payment_row(engine, order_id)
    assert (row.status, row.decline_code) == ("failed", "authentication_required")
    [event] = await events_for(engine, order_id)
    assert event.type == "payment.failed"


async def test_unknown_intents_and_other_types_are_acknowledged(api: Api) -> None:
    client, _ = api
    stranger = intent_event("payment_intent.succeeded", intent_id="pi_not_ours")
    response = await deliver(client, stranger, signature(stranger))
    assert (response.status_code, response.json()["result"]) == (200, "unknown_payment")
    other = intent_event("charge.refunded", intent_id="pi_whatever")
    response = await deliver(client, other, signature(other))
    assert (response.status_code, response.json()["result"]) == (200, "ignored")
