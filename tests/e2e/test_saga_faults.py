"""The saga under faults: a service down, the operator killed, Kafka restarted, deletion."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from kubernetes_asyncio import client

from infra.local.probes import probes, wait_ready
from infra.local.settings import PlatformSettings
from infra.local.state import State
from infra.local.supervisor import Supervisor
from tests.e2e.conftest import metric, metric_at, metric_settles_at
from tests.e2e.harness import place_order
from tests.e2e.stack import Stack
from tests.e2e.test_saga_paths import available, disagreements, settled, steps
from tests.processes import free_port
from tests.support import eventually


async def phase_is(stack: Stack, kube: client.ApiClient, order_id: str, *phases: str) -> None:
    async def probe() -> bool | None:
        found = await stack.order(kube, order_id)
        return True if (found or {}).get("status", {}).get("phase") in phases else None

    await eventually(probe, timeout=60, what=f"order {order_id} to reach {phases}")


async def attempts(stack: Stack, kube: client.ApiClient, order_id: str, step: str) -> int:
    found = await stack.order(kube, order_id) or {}
    for item in found.get("status", {}).get("steps", []):
        if item["name"] == step:
            return int(item.get("attempts", 0))
    return 0


async def one_of_each(stack: Stack, order_id: str) -> None:
    """Exactly one reservation and one payment: nothing was taken twice."""
    reservations = await stack.query(
        "inventory", "SELECT count(*) AS n FROM reservations WHERE order_id = $1", order_id
    )
    payments = await stack.query(
        "payments", "SELECT count(*) AS n FROM payments WHERE order_id = $1", order_id
    )
    assert (reservations[0]["n"], payments[0]["n"]) == (1, 1)


async def test_inventory_down_is_retried_until_it_is_back(
    stack: Stack, kube: client.ApiClient
) -> None:
    await stack.inventory_gate.close()
    try:
        # Orders prices from inventory directly; only the operator's route is cut.
        order_id = await place_order(stack.orders_url, items=[{"sku": "E2E-BEANS", "quantity": 1}])

        async def retried() -> bool | None:
            return True if await attempts(stack, kube, order_id, "reserve-stock") >= 3 else None

        await eventually(retried, timeout=30, what="reserve-stock to be retried")
    finally:
        await stack.inventory_gate.open()
    order = await settled(stack, kube, order_id)
    assert order["status"]["phase"] == "Completed"
    state, tries = steps(order)["reserve-stock"]
    assert state == "Succeeded" and tries >= 3
    await one_of_each(stack, order_id)


# What kopf logs when a replica waits for a peer: an equal one freezes every replica, a
# higher one pauses this one.
FROZEN = "Possibly conflicting operators with the same priority"
PAUSED = "Pausing operations in favour of"
PRODUCTION_PEERING_LIFETIME = 60  # the chart's and kopf's default; the stack's is 10 s


async def test_operator_killed_mid_saga_finishes_once_after_restart(
    stack: Stack, kube: client.ApiClient
) -> None:
    """kill -9, then the same replica again (same priority, same identity: what a restarted
    container or a replacement pod of the chart's Deployment is). Its dead predecessor's
    peering record looks alive for the whole lifetime (kopf's default 60 s here); the restart
    must not wait for it: it takes over at once, and the saga finishes once."""
    stack.operator.stop()
    replica = stack.operator.replica(
        priority=stack.operator.priority,
        SAGA_PEERING_LIFETIME_SECONDS=str(PRODUCTION_PEERING_LIFETIME),
        SAGA_METRICS_PORT=str(free_port()),
    )
    try:
        replica.start()
        await stack.inventory_gate.close()  # hold the saga in its first step
        try:
            items = [{"sku": "E2E-MUG", "quantity": 2}]
            order_id = await place_order(stack.orders_url, items=items)

            async def in_flight() -> bool | None:
                return True if await attempts(stack, kube, order_id, "reserve-stock") >= 1 else None

            await eventually(in_flight, timeout=30, what="the saga to start")
            replica.kill()
        finally:
            await stack.inventory_gate.open()
        replica.start(bridge=False)
        # Well inside the lifetime: a frozen replica would still be waiting.
        order = await settled(stack, kube, order_id, timeout=PRODUCTION_PEERING_LIFETIME / 2)
        assert order["status"]["phase"] == "Completed"
        await one_of_each(stack, order_id)
        assert not replica.logged(FROZEN, since_start=True), replica.tail()
        assert not replica.logged(PAUSED, since_start=True), replica.tail()
    finally:
        replica.close()
        stack.operator.start()


async def peer_priorities(stack: Stack, kube: client.ApiClient) -> set[int]:
    """The priorities of the replicas in the e2e peering, as kopf records them."""
    peering = await client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "kopf.dev", "v1", stack.namespace, "kopfpeerings", "e2e"
    )
    return {int(peer["priority"]) for peer in (peering.get("status") or {}).values()}


async def test_a_standby_replica_takes_over_when_the_active_one_dies(
    stack: Stack, kube: client.ApiClient
) -> None:
    """Peering: the standby waits while the active replica lives, and finishes its sagas once
    the dead replica's peering record expires (10 s here, SAGA_PEERING_LIFETIME_SECONDS).
    saga_operator_active says which one works (the no-active-replica alert reads it)."""
    standby_port = free_port()
    standby_metrics = f"http://127.0.0.1:{standby_port}/metrics"
    standby = stack.operator.replica(priority=1, SAGA_METRICS_PORT=str(standby_port))
    try:
        standby.start(bridge=False)

        async def standing_by() -> bool | None:
            # A replica starts paused and only says so when it resumes; its peering record
            # shows it is there.
            return True if standby.priority in await peer_priorities(stack, kube) else None

        try:
            await eventually(standing_by, timeout=30, what="the new replica to join the peering")
        except AssertionError as e:
            raise AssertionError(f"{e}\nstandby log:\n{standby.tail()}") from None
        await stack.inventory_gate.close()
        try:
            order_id = await place_order(
                stack.orders_url, items=[{"sku": "E2E-MUG", "quantity": 1}]
            )

            async def in_flight() -> bool | None:
                return True if await attempts(stack, kube, order_id, "reserve-stock") >= 1 else None

            await eventually(in_flight, timeout=30, what="the active replica to start the saga")
            assert not standby.logged("Resuming operations")

            async def vitals_agree() -> bool | None:
                seen = (
                    await metric(stack, "saga_operator_active"),
                    await metric_at(standby_metrics, "saga_operator_active"),
                    await metric(stack, "order_saga_in_flight"),
                    await metric_at(standby_metrics, "order_saga_in_flight"),
                )
                return True if seen[:2] == (1, 0) and seen[2] >= 1 and seen[3] == 0 else None

            await eventually(vitals_agree, timeout=20, what="only the active replica to say so")
            stack.operator.kill()
        finally:
            await stack.inventory_gate.open()
        order = await settled(stack, kube, order_id, timeout=90)
        assert order["status"]["phase"] == "Completed"
        assert standby.logged("Resuming operations")
        assert await metric_settles_at(standby_metrics, "saga_operator_active", 1) == 1
        await one_of_each(stack, order_id)
    finally:
        standby.close()
        if not stack.operator.running:
            stack.operator.start()  # the next tests expect it


@pytest.mark.timeout(300)
async def test_operator_killed_repeatedly_under_load_settles_every_saga_once(
    stack: Stack, kube: client.ApiClient
) -> None:
    """kill -9 at arbitrary points while 30 sagas run: each still ends once, nothing doubled."""
    ids = await asyncio.gather(
        *(
            place_order(stack.orders_url, items=[{"sku": "E2E-BEANS", "quantity": 1}])
            for _ in range(30)
        )
    )
    for pause in (0.3, 1.0, 0.6):
        await asyncio.sleep(pause)
        stack.operator.kill()
        stack.operator.start(bridge=False)
    orders = await asyncio.gather(*(settled(stack, kube, i, timeout=200) for i in ids))
    outcomes = {(o["status"]["phase"], o["status"]["reason"]) for o in orders}
    assert outcomes == {("Completed", "")}
    assert await disagreements(stack, orders) == []
    for order_id in ids:
        await one_of_each(stack, order_id)


async def test_kafka_restarted_mid_saga_delays_but_does_not_lose_the_order(
    stack: Stack, kube: client.ApiClient
) -> None:
    state = State(PlatformSettings())
    supervisor = Supervisor(state)
    await asyncio.to_thread(supervisor.stop, "kafka")
    try:
        # Orders stores the order and its order.created in one transaction; the relay
        # publishes it once the broker is back, and the bridge creates the Order then.
        order_id = await place_order(stack.orders_url, items=[{"sku": "E2E-MUG", "quantity": 1}])
        await asyncio.sleep(2)
        assert await stack.order(kube, order_id) is None
    finally:
        await asyncio.to_thread(supervisor.start, ["kafka"])
        await wait_ready("kafka", probes(state)["kafka"], timeout=120)
    order = await settled(stack, kube, order_id, timeout=180)
    assert order["status"]["phase"] == "Completed"
    await one_of_each(stack, order_id)


async def test_deleting_an_unfinished_order_compensates_before_it_goes(
    stack: Stack, kube: client.ApiClient
) -> None:
    before = await available(stack, "E2E-BEANS")
    order_id = await place_order(
        stack.orders_url,
        items=[{"sku": "E2E-BEANS", "quantity": 4}],
        payment_method="pm_card_authenticationRequired",  # waits: the saga is mid-way
    )
    await phase_is(stack, kube, order_id, "PaymentPending")
    assert await available(stack, "E2E-BEANS") == before - 4
    await client.CustomObjectsApi(kube).delete_namespaced_custom_object(
        "kubesaga.io", "v1alpha1", stack.namespace, "orders", order_id
    )

    async def gone() -> bool | None:
        return True if await stack.order(kube, order_id) is None else None

    await eventually(gone, timeout=60, what="the deleted Order to go")
    assert await available(stack, "E2E-BEANS") == before
    rows = await stack.query("orders", "SELECT phase, reason FROM orders WHERE id = $1", order_id)
    assert [(r["phase"].lower(), r["reason"]) for r in rows] == [("cancelled", "Deleted")]
    payments = await stack.query(
        "payments", "SELECT status FROM payments WHERE order_id = $1", order_id
    )
    assert [p["status"] for p in payments] in (["refunded"], ["failed"])


async def test_an_order_made_by_hand_takes_nothing_and_goes_after_its_ttl(
    stack: Stack, kube: client.ApiClient
) -> None:
    """An Order made with kubectl for an order orders never placed: the saga asks orders
    first, so it ends Cancelled (UnknownOrder) with no stock reserved and no money taken, and
    with ttlSecondsAfterFinished 0 it is deleted at once, its finalizer not left behind."""
    order_id = str(uuid.uuid4())
    body: dict[str, Any] = {
        "apiVersion": "kubesaga.io/v1alpha1",
        "kind": "Order",
        "metadata": {"name": order_id},
        "spec": {
            "orderId": order_id,
            "customerId": "c-by-hand",
            "items": [{"sku": "E2E-MUG", "quantity": 1, "unitPrice": 899}],
            "amount": {"value": 899, "currency": "EUR"},
            "paymentMethod": "pm_card_visa",
            "ttlSecondsAfterFinished": 0,
        },
    }
    before = await available(stack, "E2E-MUG")
    await client.CustomObjectsApi(kube).create_namespaced_custom_object(
        "kubesaga.io", "v1alpha1", stack.namespace, "orders", body
    )

    async def cancelled_event() -> str | None:
        listed = await client.CoreV1Api(kube).list_namespaced_event(
            stack.namespace, field_selector=f"involvedObject.name={order_id}"
        )
        found = [e for e in listed.items if e.reason == "Cancelled"]
        return str(found[0].message) if found else None

    message = await eventually(cancelled_event, timeout=60, what="the Order's Cancelled event")
    assert "orders never placed this order" in message

    async def gone() -> bool | None:
        return True if await stack.order(kube, order_id) is None else None

    try:
        # The TTL check runs every 10 s; a finalizer kept past that is the bug this guards.
        await eventually(gone, timeout=30, what="the finished Order to be deleted")
    except AssertionError as e:
        found = await stack.order(kube, order_id)
        raise AssertionError(
            f"{e}\nOrder: {found}\noperator log:\n{stack.operator.tail()}"
        ) from None
    for service, table in (("inventory", "reservations"), ("payments", "payments")):
        rows = await stack.query(service, f"SELECT 1 FROM {table} WHERE order_id = $1", order_id)
        assert rows == [], f"{service} holds something for an order never placed"
    assert await available(stack, "E2E-MUG") == before
