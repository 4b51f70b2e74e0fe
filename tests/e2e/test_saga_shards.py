"""Shards: two operator replicas, each driving only the Orders the bridge labelled for it."""

from __future__ import annotations

import asyncio
from collections import Counter

from kubernetes_asyncio import client

from operators.saga.bridge import SHARD_LABEL, shard_of
from tests.e2e.conftest import metric_settles_at
from tests.e2e.harness import OperatorProcess, place_order
from tests.e2e.stack import Stack
from tests.e2e.test_saga_paths import settled
from tests.processes import free_port

SHARDS = 2
ORDERS = 10


async def test_two_shards_split_the_orders_between_them(
    stack: Stack, kube: client.ApiClient
) -> None:
    stack.operator.stop()
    ports = [free_port() for _ in range(SHARDS)]
    shards: list[OperatorProcess] = [
        stack.operator.replica(
            priority=10,
            SAGA_SHARDS__COUNT=str(SHARDS),
            SAGA_SHARDS__INDEX=str(index),
            SAGA_METRICS_PORT=str(port),
        )
        for index, port in enumerate(ports)
    ]
    try:
        for replica in shards:
            # Each peers in its own shard's peering: in a shared one, the higher priority
            # would pause the other shard.
            replica.start()
        ids = await asyncio.gather(
            *(
                place_order(stack.orders_url, items=[{"sku": "E2E-MUG", "quantity": 1}])
                for _ in range(ORDERS)
            )
        )
        try:
            orders = await asyncio.gather(*(settled(stack, kube, i, timeout=120) for i in ids))
        except AssertionError as e:
            logs = "\n".join(f"shard {k}:\n{r.tail(60)}" for k, r in enumerate(shards))
            raise AssertionError(f"{e}\n{logs}") from None

        assert {o["status"]["phase"] for o in orders} == {"Completed"}
        for order_id, order in zip(ids, orders, strict=True):
            assert order["metadata"]["labels"][SHARD_LABEL] == str(shard_of(order_id, SHARDS))
        expected = Counter(shard_of(order_id, SHARDS) for order_id in ids)
        for index, port in enumerate(ports):
            url = f"http://127.0.0.1:{port}/metrics"
            drove = await metric_settles_at(url, "order_saga_completed_total", expected[index])
            assert drove == expected[index], (
                f"shard {index} completed {drove} sagas, not {expected[index]}; its log:\n"
                + shards[index].tail(80)
            )
    finally:
        for replica in shards:
            replica.close()
        stack.operator.start()
