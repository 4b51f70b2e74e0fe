"""The load: a seeded mix of orders, placed at a rate or in a burst, and the wait until they settle.

What each kind of order does, and what a healthy saga makes of it:

============== ======================================== ================================
kind           how it is placed                          its intended end (``INTENDED``)
============== ======================================== ================================
approved       ``POST /orders``, ``pm_card_visa``         Completed
declined       ``pm_card_chargeDeclined``                 Cancelled / PaymentDeclined
scarce         one unit of a SKU stocked for half of them Completed, or Cancelled / OutOfStock
3ds-completes  ``pm_card_authenticationRequired``; once   Completed
               payments holds the pending payment, a
               Stripe-signed ``payment_intent.succeeded``
               to ``POST /payments/webhook``
3ds-times-out  the same card, no webhook ever             Cancelled / PaymentTimeout
forged         an Order made with the Kubernetes API for  no stock, no money touched; gone
               an order orders never heard of (TTL 0)     after it ends (TTL 0)
============== ======================================== ================================

``POST /orders`` is retried with the same Idempotency-Key through outages (connection
refused, 5xx, 409 in flight) until ``place_timeout``: a client that gives up early would
leave orders the harness does not know of. Every loop here is bounded in count and time;
all traffic goes to loopback. The pure parts (``plan``, ``catalog``, ``order_body``,
``launch_offsets``) are what the throughput work reuses with its own placing loop.
"""

from __future__ import annotations

import asyncio
import enum
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from kubernetes_asyncio import client

from services.inventory.domain.stock import Price, Product
from tests.e2e.stack import Stack
from tests.unit.payments.stripe_signing import intent_event, signature


class Kind(enum.StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    SCARCE = "scarce"
    THREE_DS_COMPLETES = "3ds-completes"
    THREE_DS_TIMES_OUT = "3ds-times-out"
    FORGED = "forged"


DEFAULT_MIX: Mapping[Kind, int] = {
    Kind.APPROVED: 50,
    Kind.DECLINED: 12,
    Kind.SCARCE: 12,
    Kind.THREE_DS_COMPLETES: 10,
    Kind.THREE_DS_TIMES_OUT: 10,
    Kind.FORGED: 6,
}
PAYMENT_METHOD = {
    Kind.APPROVED: "pm_card_visa",
    Kind.DECLINED: "pm_card_chargeDeclined",
    Kind.SCARCE: "pm_card_visa",
    Kind.THREE_DS_COMPLETES: "pm_card_authenticationRequired",
    Kind.THREE_DS_TIMES_OUT: "pm_card_authenticationRequired",
    Kind.FORGED: "pm_card_visa",
}
# How a healthy saga ends each kind, as orders records it (forged ones: not Completed).
INTENDED: Mapping[Kind, frozenset[str]] = {
    Kind.APPROVED: frozenset({"Completed"}),
    Kind.DECLINED: frozenset({"Cancelled/PaymentDeclined"}),
    Kind.SCARCE: frozenset({"Completed", "Cancelled/OutOfStock"}),
    Kind.THREE_DS_COMPLETES: frozenset({"Completed"}),
    Kind.THREE_DS_TIMES_OUT: frozenset({"Cancelled/PaymentTimeout"}),
}
PLENTIFUL = {"CHAOS-BEANS": 1999, "CHAOS-MUG": 899, "CHAOS-TEA": 450}
PLENTIFUL_STOCK = 1_000_000
SCARCE_SKU = "CHAOS-SCARCE"
SCARCE_PRICE = 2500
CURRENCY = "EUR"


def plan(count: int, mix: Mapping[Kind, int], rng: random.Random) -> list[Kind]:
    """``count`` kinds in the proportions of ``mix`` (largest remainder), in a seeded order."""
    if count < 0 or not mix or any(weight < 0 for weight in mix.values()):
        raise ValueError("a plan needs a non-negative count and non-negative weights")
    total = sum(mix.values())
    if total == 0:
        raise ValueError("a mix needs at least one positive weight")
    shares = {kind: count * weight / total for kind, weight in mix.items()}
    counts = {kind: math.floor(share) for kind, share in shares.items()}
    order = list(mix)
    by_remainder = sorted(mix, key=lambda kind: (counts[kind] - shares[kind], order.index(kind)))
    for kind in by_remainder[: count - sum(counts.values())]:
        counts[kind] += 1
    kinds = [kind for kind in mix for _ in range(counts[kind])]
    rng.shuffle(kinds)
    return kinds


def catalog(kinds: Sequence[Kind]) -> list[Product]:
    """The products the run needs: plenty of three, and the scarce one for half its orders."""
    scarce = sum(1 for kind in kinds if kind is Kind.SCARCE) // 2
    return [
        *(
            Product(sku, sku.title(), Price(price, CURRENCY), PLENTIFUL_STOCK)
            for sku, price in PLENTIFUL.items()
        ),
        Product(SCARCE_SKU, "Limited drop", Price(SCARCE_PRICE, CURRENCY), scarce),
    ]


def lines(kind: Kind, rng: random.Random) -> list[tuple[str, int]]:
    """(sku, quantity) per line: one unit of the scarce SKU, or 1-2 plentiful SKUs."""
    if kind is Kind.SCARCE:
        return [(SCARCE_SKU, 1)]
    skus = rng.sample(sorted(PLENTIFUL), k=rng.randint(1, 2))
    return [(sku, rng.randint(1, 3)) for sku in skus]


def order_body(kind: Kind, customer: str, order_lines: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """The ``POST /orders`` body."""
    return {
        "customerId": customer,
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in order_lines],
        "currency": CURRENCY,
        "paymentMethod": PAYMENT_METHOD[kind],
    }


def forged_order(order_id: str, order_lines: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """An Order as a user with ``kubectl create`` rights could make it: valid, but unknown to
    orders; deleted as soon as it ends (``ttlSecondsAfterFinished: 0``)."""
    prices = [(sku, quantity, PLENTIFUL.get(sku, SCARCE_PRICE)) for sku, quantity in order_lines]
    return {
        "apiVersion": "kubesaga.io/v1alpha1",
        "kind": "Order",
        "metadata": {"name": order_id},
        "spec": {
            "orderId": order_id,
            "customerId": "c-forged",
            "items": [{"sku": s, "quantity": q, "unitPrice": p} for s, q, p in prices],
            "amount": {"value": sum(q * p for _, q, p in prices), "currency": CURRENCY},
            "paymentMethod": PAYMENT_METHOD[Kind.FORGED],
            "ttlSecondsAfterFinished": 0,
        },
    }


def launch_offsets(count: int, rate: float | None) -> list[float]:
    """Seconds after the start at which each order goes out: evenly at ``rate`` per second,
    or all at once (a burst) when ``rate`` is None."""
    if rate is not None and rate <= 0:
        raise ValueError("the rate must be positive (or None for a burst)")
    return [0.0 if rate is None else index / rate for index in range(count)]


@dataclass
class Placed:
    """One order of the plan and what became of placing it (wall-clock times)."""

    index: int
    kind: Kind
    requested_at: float
    order_id: str | None = None
    placed_at: float | None = None
    attempts: int = 0
    error: str = ""
    webhook: str = ""  # 3ds-completes: what payments answered, or why none was sent
    webhook_at: float | None = None  # when payments took it


@dataclass
class Load:
    """Places a plan's orders on a stack (``place``) and waits for them (``wait_settled``)."""

    stack: Stack
    kube: client.ApiClient
    place_timeout: float = 90.0  # per order, through outages
    concurrency: int = 64  # requests in flight at once (a burst queues behind them)
    placed: list[Placed] = field(default_factory=list)

    async def place(
        self, kinds: Sequence[Kind], *, rate: float | None, rng: random.Random
    ) -> list[Placed]:
        """Place every order of ``kinds``; return once each is placed or given up on, and each
        3-D Secure webhook is delivered or given up on."""
        started = time.monotonic()
        offsets = launch_offsets(len(kinds), rate)
        bodies = [lines(kind, rng) for kind in kinds]
        slots = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency)
        pool = await _pool(self.stack.databases["payments"])
        try:
            async with (
                httpx.AsyncClient(base_url=self.stack.orders_url, timeout=10, limits=limits) as api,
                httpx.AsyncClient(base_url=self.stack.payments_url, timeout=10) as payments,
            ):

                async def one(index: int) -> None:
                    await asyncio.sleep(max(0.0, started + offsets[index] - time.monotonic()))
                    kind = kinds[index]
                    item = Placed(index, kind, requested_at=time.time())
                    self.placed.append(item)
                    async with slots:
                        if kind is Kind.FORGED:
                            await self._forge(item, bodies[index])
                        else:
                            await self._post(api, item, bodies[index])
                    if kind is Kind.THREE_DS_COMPLETES and item.order_id:
                        item.webhook = await self._complete_3ds(pool, payments, item.order_id)
                        if not item.webhook.startswith(("not sent", "gave up")):
                            item.webhook_at = time.time()

                await asyncio.gather(*(one(index) for index in range(len(kinds))))
        finally:
            await pool.close()
        return sorted(self.placed, key=lambda p: p.index)

    async def _post(
        self, api: httpx.AsyncClient, item: Placed, order_lines: Sequence[tuple[str, int]]
    ) -> None:
        body = order_body(item.kind, f"c-chaos-{item.index % 50}", order_lines)
        key = f"chaos-{uuid.uuid4()}"
        deadline = time.monotonic() + self.place_timeout
        delay = 0.25
        while True:
            item.attempts += 1
            try:
                response = await api.post("/orders", json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError as e:
                item.error = f"{type(e).__name__}: {e}"
            else:
                if response.status_code in (200, 201):
                    item.order_id = str(response.json()["orderId"])
                    item.placed_at, item.error = time.time(), ""
                    return
                item.error = f"{response.status_code}: {response.text[:200]}"
                if response.status_code < 500 and response.status_code not in (409, 429):
                    return  # refused for good: the body is wrong, not the moment
            if time.monotonic() + delay > deadline:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _forge(self, item: Placed, order_lines: Sequence[tuple[str, int]]) -> None:
        order_id = str(uuid.uuid4())
        custom = client.CustomObjectsApi(self.kube)
        deadline = time.monotonic() + self.place_timeout
        while True:
            item.attempts += 1
            try:
                await custom.create_namespaced_custom_object(
                    "kubesaga.io",
                    "v1alpha1",
                    self.stack.namespace,
                    "orders",
                    forged_order(order_id, order_lines),
                )
            except client.exceptions.ApiException as e:
                if e.status == 409:  # made by an earlier attempt whose answer was lost
                    item.order_id, item.placed_at, item.error = order_id, time.time(), ""
                    return
                item.error = f"{e.status}: {e.reason}"
                if e.status < 500 and e.status != 429:
                    return
            except Exception as e:  # the API server is down: connection refused, reset
                item.error = f"{type(e).__name__}: {e}"
            else:
                item.order_id, item.placed_at, item.error = order_id, time.time(), ""
                return
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.5)

    async def _complete_3ds(
        self, pool: asyncpg.Pool, payments: httpx.AsyncClient, order_id: str
    ) -> str:
        """Wait for the pending payment (bounded by the payment deadline), then send Stripe's
        ``payment_intent.succeeded`` for it, signed, until payments takes it."""
        deadline = time.monotonic() + self.place_timeout
        reference: str | None = None
        while reference is None:
            try:
                row = await pool.fetchrow(
                    "SELECT status, provider_reference FROM payments WHERE order_id = $1",
                    uuid.UUID(order_id),
                )
            except (
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                # A pooled connection whose server was killed mid-reset (asyncpg's own state).
                asyncpg.InternalClientError,
            ):
                row = None  # Postgres is down: ask again
            if row is not None and row["status"] != "pending":
                return f"not sent: the payment is {row['status']}"
            if row is not None and row["provider_reference"]:
                reference = str(row["provider_reference"])
            elif time.monotonic() > deadline:
                return "not sent: no pending payment appeared"
            else:
                await asyncio.sleep(0.5)
        body = intent_event("payment_intent.succeeded", intent_id=reference, order_id=order_id)
        while True:
            try:
                response = await payments.post(
                    "/payments/webhook",
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "Stripe-Signature": signature(body, secret=self.stack.webhook_secret),
                    },
                )
                if response.status_code == 200:
                    return str(response.json().get("result", "received"))
                answer = f"{response.status_code}: {response.text[:200]}"
            except httpx.TransportError as e:
                answer = f"{type(e).__name__}: {e}"
            if time.monotonic() > deadline:
                return f"gave up: {answer}"
            await asyncio.sleep(0.5)


async def _pool(dsn: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=0, max_size=4)
    assert pool is not None
    return pool


async def wait_until(
    unsettled: Callable[[], Awaitable[Sequence[str]]], *, timeout: float, every: float = 2.0
) -> Sequence[str]:
    """Poll ``unsettled`` (ids not settled yet) until it is empty or ``timeout`` passed; the
    last answer. A poll that fails (a database or the API server down) counts as not yet."""
    deadline = time.monotonic() + timeout
    left: Sequence[str] = ["(not asked yet)"]
    while True:
        try:
            left = await unsettled()
        except Exception as e:  # checked again on the next poll; reported if it never ends
            left = [f"(could not ask: {type(e).__name__}: {e})"]
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(every)
