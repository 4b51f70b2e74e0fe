"""Topic set-up and the service producer on the real broker (which refuses auto-creation)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from services.runtime.kafka import TopicSetupError, ensure_topics, start_producer
from services.runtime.settings import KafkaSettings
from tests.e2e.harness import Gate
from tests.integration.runtime import kafka_support as support
from tests.processes import free_port


async def partition_counts(kafka: str, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
        return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}
    finally:
        await admin.close()


async def test_missing_topics_are_created_with_the_configured_partitions(kafka: str) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka, topic_partitions=2)
    topics = [f"test.setup.{uuid.uuid4().hex[:10]}" for _ in range(2)]
    await ensure_topics(settings, topics)
    assert await partition_counts(kafka, topics) == dict.fromkeys(topics, 2)
    await ensure_topics(settings, topics)  # already there: nothing to do, no error


async def test_replicas_creating_the_same_topics_at_once_all_succeed(kafka: str) -> None:
    settings = support.kafka_settings(kafka)
    topics = [f"test.race.{uuid.uuid4().hex[:10]}" for _ in range(3)]
    await asyncio.gather(*(ensure_topics(settings, topics) for _ in range(5)))
    assert await partition_counts(kafka, topics) == dict.fromkeys(topics, 3)


async def test_a_topic_the_broker_cannot_create_is_an_error_naming_it(kafka: str) -> None:
    too_many_replicas = KafkaSettings(bootstrap_servers=kafka, topic_replication=3)
    topic = f"test.refused.{uuid.uuid4().hex[:10]}"
    with pytest.raises(TopicSetupError, match=rf"{topic}: InvalidReplicationFactorError"):
        await ensure_topics(too_many_replicas, [topic])
    assert await partition_counts(kafka, [topic]) == {}


async def test_topic_setup_waits_for_a_broker_that_answers_late(kafka: str) -> None:
    """A pod starting beside its Kafka: refused at first, then the broker is there."""
    host, port = kafka.rsplit(":", 1)
    gate = Gate(host, int(port))
    gate.port = free_port()  # known now, listening only once opened
    settings = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{gate.port}", startup_wait=timedelta(seconds=20)
    )
    topic = f"test.late.{uuid.uuid4().hex[:10]}"
    setup = asyncio.create_task(ensure_topics(settings, [topic]))
    await asyncio.sleep(2)
    assert not setup.done(), "it gave up instead of waiting"
    await gate.open()
    try:
        await asyncio.wait_for(setup, timeout=30)
    finally:
        await gate.close()
    assert await partition_counts(kafka, [topic]) == {topic: 3}


async def test_without_a_wait_an_absent_broker_fails_topic_setup_at_once() -> None:
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    with pytest.raises(TopicSetupError, match="no Kafka broker answers"):
        await asyncio.wait_for(ensure_topics(settings, ["test.nowhere"]), timeout=15)


async def test_the_service_producer_writes_acknowledged_keyed_records(kafka: str) -> None:
    settings = support.kafka_settings(kafka)
    topic = await support.new_topic(settings, "producer")
    producer = await start_producer(settings)
    try:
        sent = await producer.send_and_wait(topic, b"v", key=b"order-1", headers=[("id", b"e")])
    finally:
        await producer.stop()
    (record,) = await support.read_topic(kafka, topic)
    assert (record.partition, record.offset, record.key, record.value) == (
        sent.partition,
        sent.offset,
        b"order-1",
        b"v",
    )
