"""``serve``'s relay on the real broker: a payment's events reach ``kubesaga.payments``.

The app runs with its outbox relay; the test reads the topic from the offsets it had before
the request, keeping only this test's order (other suites publish to the same topic).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from services.runtime import events as contracts
from tests.integration.payments.api_support import (
    AUTH,
    payment_body,
    payments_settings,
    running_app,
)

pytestmark = pytest.mark.platform


async def test_authorized_and_refunded_events_are_published(
    payments_db: str, redis: str, kafka: str
) -> None:
    settings = payments_settings(payments_db, redis, kafka, relay=True)
    async with running_app(settings) as (client, _):  # creates the topic if missing
        # No group: the consumer takes every partition of the topic at once.
        consumer = AIOKafkaConsumer(
            contracts.PAYMENTS_TOPIC, bootstrap_servers=kafka, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = consumer.assignment()
            assert partitions
            await consumer.seek_to_end(*partitions)
            for partition in partitions:
                await consumer.position(partition)  # fix the starting offsets now
            body = payment_body()
            order_id = uuid.UUID(body["orderId"])
            assert (await client.post("/payments", json=body, headers=AUTH)).status_code == 201
            refund = await client.post(f"/payments/{order_id}/refund", headers=AUTH)
            assert refund.json()["status"] == "refunded"

            seen: list[contracts.Event] = []
            async with asyncio.timeout(20):
                while len(seen) < 2:
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        for record in records:
                            if record.key == str(order_id).encode():
                                seen.append(contracts.decode(record.value))
        finally:
            await consumer.stop()
    assert [event.type for event in seen] == ["payment.authorized", "payment.refunded"]
    assert {event.payload.order_id for event in seen} == {order_id}
    assert all(event.aggregate_id == str(order_id) for event in seen)
