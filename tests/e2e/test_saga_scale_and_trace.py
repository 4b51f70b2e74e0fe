"""One order is one trace; 100 concurrent orders against scarce stock; malformed Orders."""

from __future__ import annotations

import asyncio
import statistics
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes_asyncio import client

from operators.saga import machine
from tests.e2e.conftest import RUSH_STOCK
from tests.e2e.harness import Span, place_order
from tests.e2e.stack import Stack
from tests.e2e.test_saga_paths import available, settled
from tests.support import eventually


async def test_one_order_is_one_trace_across_every_process(
    stack: Stack, kube: client.ApiClient
) -> None:
    order_id = await place_order(stack.orders_url, items=[{"sku": "E2E-BEANS", "quantity": 1}])
    order = await settled(stack, kube, order_id)
    trace_id = order["status"]["traceparent"].split("-")[1]
    processes = {"orders", "saga-operator", "inventory", "payments"}
    steps = {f"saga {s}" for s in machine.FORWARD}

    def roots() -> list[Span]:
        """Spans whose parent is not (yet) in the trace."""
        spans = stack.traces.trace(trace_id)
        ids = {span.span_id for span in spans}
        return [span for span in spans if span.parent_id not in ids]

    async def whole_trace() -> bool | None:
        # Processes export in batches, children before their parents: wait for one tree.
        spans = stack.traces.trace(trace_id)
        found = {span.service for span in spans}, {span.name for span in spans}
        complete = processes <= found[0] and steps <= found[1]
        return True if complete and len(roots()) == 1 else None

    try:
        await eventually(whole_trace, timeout=30, what="one tree with every process and step")
    except AssertionError as e:
        services = sorted({span.service for span in stack.traces.trace(trace_id)})
        raise AssertionError(f"{e}; services {services}; roots {roots()}") from None
    # One tree: every span's parent is in the trace, except the root (POST /orders).
    (root,) = roots()
    assert (root.service, root.name) == ("orders", "POST /orders")


@pytest.mark.timeout(300)
async def test_a_hundred_concurrent_orders_against_scarce_stock(
    stack: Stack, kube: client.ApiClient
) -> None:
    """Every order ends Completed or Cancelled; nothing oversold; no double charge."""
    cards = ["pm_card_visa"] * 9 + ["pm_card_chargeDeclined"]
    started: dict[str, float] = {}

    async def one(n: int) -> str:
        wall = datetime.now(UTC).timestamp()
        order_id = await place_order(
            stack.orders_url,
            items=[{"sku": "E2E-RUSH", "quantity": 1}],
            payment_method=cards[n % len(cards)],
            customer_id=f"c-rush-{n}",
        )
        started[order_id] = wall
        return order_id

    ids = await asyncio.gather(*(one(n) for n in range(100)))
    orders = await asyncio.gather(*(settled(stack, kube, i, timeout=240) for i in ids))
    phases = [o["status"]["phase"] for o in orders]
    assert set(phases) <= {"Completed", "Cancelled"}
    completed = [o for o in orders if o["status"]["phase"] == "Completed"]
    reasons = {o["status"]["reason"] for o in orders if o["status"]["phase"] == "Cancelled"}
    assert reasons <= {"OutOfStock", "PaymentDeclined"}
    assert 0 < len(completed) <= RUSH_STOCK

    sold = await stack.query(
        "inventory",
        "SELECT count(*) AS n FROM reservations WHERE status = 'committed' AND order_id = ANY($1)",
        [uuid.UUID(i) for i in ids],
    )
    assert sold[0]["n"] == len(completed)
    assert await available(stack, "E2E-RUSH") == RUSH_STOCK - len(completed)
    payments = await stack.query(
        "payments",
        "SELECT order_id, count(*) AS n, bool_or(status = 'authorized') AS kept "
        "FROM payments WHERE order_id = ANY($1) GROUP BY order_id",
        [uuid.UUID(i) for i in ids],
    )
    assert all(p["n"] == 1 for p in payments), "a second payment for one order"
    kept = {str(p["order_id"]) for p in payments if p["kept"]}
    assert kept == {o["spec"]["orderId"] for o in completed}, "money kept != orders completed"

    seconds = sorted(
        datetime.fromisoformat(o["status"]["finishedAt"].replace("Z", "+00:00")).timestamp()
        - started[o["spec"]["orderId"]]
        for o in orders
    )
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    print(
        f"\n100 concurrent orders: {len(completed)} completed, {100 - len(completed)} cancelled; "
        f"end-to-end (POST /orders to the Order settled) p50 {cuts[49]:.2f}s "
        f"p95 {cuts[94]:.2f}s max {seconds[-1]:.2f}s"
    )


def order_body(**spec_changes: Any) -> dict[str, Any]:
    order_id = str(uuid.uuid4())
    spec: dict[str, Any] = {
        "orderId": order_id,
        "customerId": "c-1",
        "items": [{"sku": "SKU-1", "quantity": 2, "unitPrice": 1999}],
        "amount": {"value": 3998, "currency": "EUR"},
        "paymentMethod": "pm_card_visa",
    }
    spec.update(spec_changes)
    return {
        "apiVersion": "kubesaga.io/v1alpha1",
        "kind": "Order",
        "metadata": {"name": order_id},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"items": []}, "spec.items"),
        ({"items": [{"sku": "SKU-1", "quantity": 0, "unitPrice": 1999}]}, "spec.items[0].quantity"),
        ({"items": [{"sku": "SKU-1", "quantity": 2, "unitPrice": -1}]}, "spec.items[0].unitPrice"),
        ({"items": [{"sku": "SKU-1", "quantity": 2, "unitPrice": 19.99}]}, "unitPrice"),
        ({"amount": {"value": 3998, "currency": "eur"}}, "spec.amount.currency"),
        ({"amount": {"value": -5, "currency": "EUR"}}, "spec.amount.value"),
        ({"amount": {"value": 1, "currency": "EUR"}}, "amount.value must equal the sum"),
        (
            {
                "items": [
                    {"sku": "SKU-1", "quantity": 1, "unitPrice": 1999},
                    {"sku": "SKU-1", "quantity": 1, "unitPrice": 1999},
                ]
            },
            "each sku appears once",
        ),
        ({"customerId": ""}, "spec.customerId"),
    ],
)
async def test_a_malformed_order_is_refused_naming_the_field(
    stack: Stack, kube: client.ApiClient, changes: dict[str, Any], named: str
) -> None:
    custom = client.CustomObjectsApi(kube)
    with pytest.raises(client.exceptions.ApiException) as refused:
        await custom.create_namespaced_custom_object(
            "kubesaga.io", "v1alpha1", stack.namespace, "orders", order_body(**changes)
        )
    assert refused.value.status == 422
    assert named in str(refused.value.body)


async def test_an_orders_spec_is_immutable(stack: Stack, kube: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(kube)
    body = order_body(paymentMethod="pm_card_chargeDeclined")  # its saga ends quickly
    name = body["metadata"]["name"]
    await custom.create_namespaced_custom_object(
        "kubesaga.io", "v1alpha1", stack.namespace, "orders", body
    )
    with pytest.raises(client.exceptions.ApiException) as refused:
        await custom.patch_namespaced_custom_object(  # type: ignore[call-arg]
            "kubesaga.io",
            "v1alpha1",
            stack.namespace,
            "orders",
            name,
            {"spec": {"customerId": "someone-else"}},
            _content_type="application/merge-patch+json",
        )
    assert refused.value.status == 422
    assert "spec is immutable" in str(refused.value.body)
