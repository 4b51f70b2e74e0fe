"""The saga's paths end to end: POST /orders → Kafka → bridge → Order → operator → services."""

from __future__ import annotations

from typing import Any

import httpx
from kubernetes_asyncio import client

from infra.local.endpoints import Endpoints
from infra.local.kubectl import kubectl
from tests.e2e.conftest import PAYMENT_DEADLINE_SECONDS, metric, metric_settles_at
from tests.e2e.harness import place_order
from tests.e2e.stack import Stack
from tests.support import eventually

SETTLED = ("Completed", "Cancelled", "Failed")


async def settled(stack: Stack, kube: client.ApiClient, order_id: str, timeout: float = 60) -> Any:
    async def probe() -> dict[str, Any] | None:
        found = await stack.order(kube, order_id)
        phase = ((found or {}).get("status") or {}).get("phase")
        return found if phase in SETTLED else None

    try:
        return await eventually(probe, timeout=timeout, what=f"order {order_id} to settle")
    except AssertionError as e:
        found = await stack.order(kube, order_id)
        raise AssertionError(
            f"{e}\nOrder: {found}\noperator log:\n{stack.operator.tail()}"
        ) from None


async def order_phase(stack: Stack, order_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.orders_url) as http:
        response = await http.get(f"/orders/{order_id}")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def disagreements(stack: Stack, orders: list[dict[str, Any]]) -> list[str]:
    """Settled Orders whose outcome (phase, reason) is not the orders database's: the two
    records of one saga must tell the same story."""
    by_id = {o["spec"]["orderId"]: o["status"] for o in orders}
    rows = await stack.query(
        "orders",
        "SELECT id::text AS id, phase, reason FROM orders WHERE id = ANY($1::uuid[])",
        list(by_id),
    )
    recorded = {r["id"]: (r["phase"].lower(), r["reason"]) for r in rows}
    return [
        f"{order_id}: Order {status['phase']}/{status['reason']}, orders {recorded.get(order_id)}"
        for order_id, status in by_id.items()
        if recorded.get(order_id) != (status["phase"].lower(), status.get("reason", ""))
    ]


def steps(order: dict[str, Any]) -> dict[str, tuple[str, int]]:
    return {s["name"]: (s["state"], s["attempts"]) for s in order["status"]["steps"]}


def condition(order: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in order["status"]["conditions"] if c["type"] == kind)
    return found


async def test_happy_path_completes_and_sells_the_stock(
    stack: Stack, kube: client.ApiClient
) -> None:
    completed_before = await metric(stack, "order_saga_completed_total")
    order_id = await place_order(stack.orders_url, items=[{"sku": "E2E-BEANS", "quantity": 2}])
    order = await settled(stack, kube, order_id)
    status = order["status"]
    assert status["phase"] == "Completed", status
    assert steps(order) == {
        "verify-order": ("Succeeded", 1),
        "reserve-stock": ("Succeeded", 1),
        "authorize-payment": ("Succeeded", 1),
        "commit-reservation": ("Succeeded", 1),
        "complete-order": ("Succeeded", 1),
    }
    assert condition(order, "Ready")["status"] == "True"
    assert condition(order, "StockReserved")["status"] == "True"
    assert order["spec"]["amount"] == {"value": 3998, "currency": "EUR"}
    assert order["metadata"]["labels"]["kubesaga.io/shard"] == "0"
    assert (await order_phase(stack, order_id))["phase"].lower() == "completed"
    assert await disagreements(stack, [order]) == []
    reservation = await stack.query(
        "inventory", "SELECT status FROM reservations WHERE order_id = $1", order_id
    )
    assert [r["status"] for r in reservation] == ["committed"]
    payments = await stack.query(
        "payments", "SELECT status FROM payments WHERE order_id = $1", order_id
    )
    assert [p["status"] for p in payments] == ["authorized"]
    completed = await metric_settles_at(
        stack.metrics_url, "order_saga_completed_total", completed_before + 1
    )
    assert completed == completed_before + 1


async def test_kubectl_get_orders_shows_the_saga_and_its_events(
    stack: Stack, kube: client.ApiClient, platform: Endpoints
) -> None:
    order_id = await place_order(stack.orders_url, items=[{"sku": "E2E-MUG", "quantity": 1}])
    await settled(stack, kube, order_id)
    table = kubectl(platform.kubeconfig, "get", "orders", "-n", stack.namespace)
    header, *rows = table.splitlines()
    assert header.split() == ["NAME", "PHASE", "STEP", "AMOUNT", "CUSTOMER", "REASON", "AGE"]
    row = next(r for r in rows if r.startswith(order_id))
    assert "Completed" in row and "899" in row and "c-e2e" in row

    async def transitions() -> list[str] | None:
        listed = await client.CoreV1Api(kube).list_namespaced_event(
            stack.namespace, field_selector=f"involvedObject.name={order_id}"
        )
        reasons = [e.reason for e in listed.items]
        return reasons if "Completed" in reasons else None

    reasons = await eventually(transitions, what="the Completed event")
    assert {"Pending", "StockReserved", "PaymentAuthorized", "Completed"} <= set(reasons)


async def test_out_of_stock_cancels_without_taking_anything(
    stack: Stack, kube: client.ApiClient
) -> None:
    order_id = await place_order(stack.orders_url, items=[{"sku": "E2E-GONE", "quantity": 1}])
    order = await settled(stack, kube, order_id)
    status = order["status"]
    assert (status["phase"], status["reason"]) == ("Cancelled", "OutOfStock")
    assert "E2E-GONE: 1 requested, 0 left" in steps_message(order, "reserve-stock")
    assert "authorize-payment" not in steps(order)
    assert "refund-payment" not in steps(order) and "release-stock" not in steps(order)
    detail = await order_phase(stack, order_id)
    assert (detail["phase"].lower(), detail["reason"]) == ("cancelled", "OutOfStock")
    assert not await stack.query("payments", "SELECT 1 FROM payments WHERE order_id = $1", order_id)


def steps_message(order: dict[str, Any], name: str) -> str:
    return str(next(s for s in order["status"]["steps"] if s["name"] == name).get("message", ""))


async def test_declined_card_releases_the_stock_and_cancels(
    stack: Stack, kube: client.ApiClient
) -> None:
    before = await available(stack, "E2E-BEANS")
    order_id = await place_order(
        stack.orders_url,
        items=[{"sku": "E2E-BEANS", "quantity": 3}],
        payment_method="pm_card_chargeDeclinedInsufficientFunds",
    )
    order = await settled(stack, kube, order_id)
    assert (order["status"]["phase"], order["status"]["reason"]) == (
        "Cancelled",
        "PaymentDeclined",
    )
    assert steps(order)["release-stock"] == ("Succeeded", 1)
    assert steps(order)["cancel-order"] == ("Succeeded", 1)
    assert await disagreements(stack, [order]) == []
    assert "refund-payment" not in steps(order)  # a declined card took nothing
    assert "insufficient_funds" in steps_message(order, "authorize-payment")
    assert await available(stack, "E2E-BEANS") == before
    assert condition(order, "Ready")["reason"] == "PaymentDeclined"


async def test_payment_stalled_past_its_deadline_is_compensated(
    stack: Stack, kube: client.ApiClient
) -> None:
    """3-D Secure never finishes: the stack's payment deadline passes, and the saga refunds
    (the refund cancels the waiting intent) and releases; orders and the Order agree."""
    before = await available(stack, "E2E-MUG")
    order_id = await place_order(
        stack.orders_url,
        items=[{"sku": "E2E-MUG", "quantity": 1}],
        payment_method="pm_card_authenticationRequired",
    )

    async def pending() -> bool | None:
        found = await stack.order(kube, order_id)
        return True if (found or {}).get("status", {}).get("phase") == "PaymentPending" else None

    await eventually(pending, timeout=30, what="the payment to wait for 3-D Secure")
    order = await settled(stack, kube, order_id, timeout=PAYMENT_DEADLINE_SECONDS + 30)
    assert (order["status"]["phase"], order["status"]["reason"]) == ("Cancelled", "PaymentTimeout")
    assert list(steps(order))[-3:] == ["refund-payment", "release-stock", "cancel-order"]
    assert await available(stack, "E2E-MUG") == before
    payments = await stack.query(
        "payments", "SELECT status FROM payments WHERE order_id = $1", order_id
    )
    # The refund cancels the waiting payment intent: no money is held.
    assert [p["status"] for p in payments] in (["refunded"], ["failed"])
    recorded = await order_phase(stack, order_id)
    assert (recorded["phase"], recorded["reason"]) == ("Cancelled", "PaymentTimeout")


async def available(stack: Stack, sku: str) -> int:
    async with httpx.AsyncClient(base_url=stack.inventory_url) as http:
        response = await http.get(f"/products/{sku}")
    assert response.status_code == 200
    return int(response.json()["available"])
