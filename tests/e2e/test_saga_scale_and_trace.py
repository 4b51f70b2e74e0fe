"""One order is one trace; 100 concurrent orders against scarce stock; malformed Orders."""

from __future__ import annotations

import asyncio
import statistics
import uuid
from datetime import UTC, datetime

import pytest
from kubernetes_asyncio import client

from operators.saga import machine
from tests.e2e.conftest import RUSH_STOCK
from tests.e2e.harness import Span, place_order
from tests.e2e.stack import Stack
from tests.e2e.test_saga_paths import available, disagreements, settled
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
    assert await disagreements(stack, orders) == []

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
