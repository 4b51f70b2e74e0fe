"""The relay loses nothing when the Kafka broker restarts while it publishes.

The broker is stopped and started through the platform's supervisord, as an operator would
restart it. Other suites share this broker, so the outage is kept short (a few seconds plus
the broker's start-up) and the broker is started again whatever happens to the test.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from infra.local.probes import probes, wait_ready
from infra.local.settings import PlatformSettings
from infra.local.state import State
from infra.local.supervisor import Supervisor
from services.runtime.kafka import start_producer
from services.runtime.relay import OutboxRelay
from services.runtime.settings import OutboxSettings
from tests.integration.runtime import kafka_support as support
from tests.support import eventually

EVENTS = 200
# One row per cycle: slow enough that the restart lands in the middle of the run.
STEADY = OutboxSettings(
    batch_size=1,
    poll_interval=timedelta(milliseconds=100),
    backoff_initial=timedelta(milliseconds=200),
    backoff_max=timedelta(seconds=2),
)


@pytest.mark.platform
@pytest.mark.timeout(300)
async def test_a_broker_restart_while_publishing_loses_no_event(pg: str, kafka: str) -> None:
    settings = support.kafka_settings(kafka)
    topic = await support.new_topic(settings, "restart")
    service = support.unique("svc")
    state = State(PlatformSettings())
    supervisor = Supervisor(state)
    events = [support.completed() for _ in range(EVENTS)]

    def published(outcome: str = "published") -> float:
        labels = {"service": service, "outcome": outcome}
        return REGISTRY.get_sample_value("outbox_publish_total", labels) or 0.0

    async def at_least(count: int) -> bool | None:
        return True if published() >= count else None

    async with support.database(pg) as db:
        await db.store(events, topic=topic)
        producer = await start_producer(settings)
        relay = OutboxRelay(db.engine, db.outbox, producer, STEADY, service=service)
        try:
            async with relay:
                await eventually(lambda: at_least(20), what="the first events")
                try:
                    await asyncio.to_thread(supervisor.stop, "kafka")
                    await asyncio.sleep(3)
                finally:
                    await asyncio.to_thread(supervisor.start, ["kafka"])
                    await wait_ready("kafka", probes(state)["kafka"], timeout=120)
                assert published() < EVENTS  # the outage really fell in the middle
                await eventually(lambda: _drained(relay), timeout=180, what="the outbox to drain")
        finally:
            await producer.stop()
        assert published("failed") > 0  # sends did fail while the broker was away
        assert all(row["published_at"] is not None for row in await db.outbox_rows())

    records = await support.read_topic(kafka, topic)
    assert set(support.event_ids(records)) == {str(e.id) for e in events}


async def _drained(relay: OutboxRelay) -> bool | None:
    return True if await relay.refresh_pending() == 0 else None
