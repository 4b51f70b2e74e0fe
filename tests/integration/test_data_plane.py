"""Kafka, Postgres, Redis and stripe-mock on the local platform answer as the real ones do."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import UnknownTopicOrPartitionError

from infra.local.endpoints import Endpoints


@pytest.fixture
async def topic(kafka: str) -> AsyncIterator[str]:
    name = f"test.smoke.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
        yield name
        await admin.delete_topics([name])
    finally:
        await admin.close()


async def test_kafka_round_trips_a_keyed_record_with_headers(kafka: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic, b'{"orderId": "o-1"}', key=b"o-1", headers=[("type", b"order.created")]
        )
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka,
        group_id=f"smoke-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit()
    finally:
        await consumer.stop()

    assert (record.partition, record.offset) == (sent.partition, sent.offset)
    assert record.key == b"o-1"
    assert record.value == b'{"orderId": "o-1"}'
    assert dict(record.headers) == {"type": b"order.created"}


async def test_kafka_refuses_to_auto_create_topics(kafka: str) -> None:
    """As in production, a topic must be created on purpose; a typo does not make a new one."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        producer = AIOKafkaProducer(bootstrap_servers=kafka, request_timeout_ms=3000)
        await producer.start()
        missing = f"test.missing.{uuid.uuid4().hex[:8]}"
        try:
            with pytest.raises(UnknownTopicOrPartitionError):
                await asyncio.wait_for(producer.send_and_wait(missing, b"x"), timeout=10)
        finally:
            await producer.stop()
        assert missing not in await admin.list_topics()
    finally:
        await admin.close()


async def test_postgres_database_is_fresh_and_transactions_are_atomic(pg: str) -> None:
    connection = await asyncpg.connect(pg)
    try:
        tables = await connection.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        assert tables == 0
        await connection.execute(
            "CREATE TABLE accounts (id text PRIMARY KEY, balance int NOT NULL CHECK (balance >= 0))"
        )
        async with connection.transaction():
            await connection.execute("INSERT INTO accounts VALUES ('a', 100), ('b', 0)")

        with pytest.raises(asyncpg.CheckViolationError):
            async with connection.transaction():
                await connection.execute(
                    "UPDATE accounts SET balance = balance + 150 WHERE id = 'b'"
                )
                await connection.execute(
                    "UPDATE accounts SET balance = balance - 150 WHERE id = 'a'"
                )

        rows = await connection.fetch("SELECT id, balance FROM accounts ORDER BY id")
        balances = {row["id"]: row["balance"] for row in rows}
        assert balances == {"a": 100, "b": 0}
    finally:
        await connection.close()


async def test_redis_set_nx_lets_exactly_one_concurrent_writer_win(redis: str) -> None:
    client = aioredis.Redis.from_url(redis)
    key = f"test:idempotency:{uuid.uuid4().hex}"
    try:
        results = await asyncio.gather(
            *(client.set(key, f"writer-{i}", nx=True, ex=60) for i in range(20))
        )
        winners = [i for i, won in enumerate(results) if won]
        assert len(winners) == 1
        assert await client.get(key) == f"writer-{winners[0]}".encode()
        assert 0 < await client.ttl(key) <= 60
    finally:
        await client.delete(key)
        await client.aclose()


async def test_redis_requires_the_platform_password(platform: Endpoints) -> None:
    address = urlsplit(platform.redis_url)
    anonymous = aioredis.Redis.from_url(f"redis://{address.hostname}:{address.port}/0")
    try:
        with pytest.raises(aioredis.AuthenticationError):
            await anonymous.ping()
    finally:
        await anonymous.aclose()


async def test_stripe_mock_serves_the_payment_intents_api(platform: Endpoints) -> None:
    async with httpx.AsyncClient(base_url=platform.stripe_api_base) as http:
        created = await http.post(
            "/v1/payment_intents",
            headers={"Authorization": f"Bearer {platform.stripe_api_key}"},
            data={"amount": "1999", "currency": "eur", "payment_method_types[]": "card"},
        )
        anonymous = await http.get("/v1/payment_intents")
    assert created.status_code == 200, created.text
    assert created.json()["object"] == "payment_intent"
    assert anonymous.status_code == 401
