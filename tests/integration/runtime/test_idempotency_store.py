"""The idempotency store on the real Redis: claims, replays, conflicts, expiry and release."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest_asyncio
from redis.asyncio import Redis

from services.runtime.idempotency import (
    IdempotencyStore,
    InFlight,
    Mismatch,
    Replay,
    Started,
    StoredResponse,
)

CREATED = StoredResponse(
    status=201,
    body=b'{"orderId":"o-1","status":"pending"}',
    headers={"content-type": "application/json", "location": "/orders/o-1"},
)


@pytest_asyncio.fixture
async def client(redis: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis)
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def namespace(client: Redis) -> AsyncIterator[str]:
    namespace = f"test-idem-{uuid.uuid4().hex}"
    yield namespace
    async for key in client.scan_iter(match=f"{namespace}:*"):
        await client.delete(key)


def store(client: Redis, namespace: str, **ttls: timedelta) -> IdempotencyStore:
    return IdempotencyStore(client, namespace=namespace, **ttls)


async def test_the_first_request_starts_and_a_repeat_replays_its_answer(
    client: Redis, namespace: str
) -> None:
    idem = store(client, namespace)
    assert isinstance(await idem.begin("k", "fp-1"), Started)
    assert isinstance(await idem.begin("k", "fp-1"), InFlight)

    assert await idem.complete("k", "fp-1", CREATED)

    assert await idem.begin("k", "fp-1") == Replay(CREATED)
    assert await idem.begin("k", "fp-1") == Replay(CREATED)  # as often as asked


async def test_the_same_key_with_another_request_is_a_mismatch(
    client: Redis, namespace: str
) -> None:
    idem = store(client, namespace)
    await idem.begin("k", "fp-1")
    assert await idem.begin("k", "fp-2") == Mismatch()  # while in flight
    await idem.complete("k", "fp-1", CREATED)
    assert await idem.begin("k", "fp-2") == Mismatch()  # and once answered


async def test_keys_are_independent_and_namespaced(client: Redis, namespace: str) -> None:
    orders, other = store(client, namespace), store(client, f"{namespace}:other")
    assert isinstance(await orders.begin("k-1", "fp"), Started)
    assert isinstance(await orders.begin("k-2", "fp"), Started)
    assert isinstance(await other.begin("k-1", "fp"), Started)


async def test_of_many_concurrent_requests_exactly_one_starts(
    client: Redis, namespace: str
) -> None:
    idem = store(client, namespace)
    outcomes = await asyncio.gather(*(idem.begin("k", "fp") for _ in range(50)))
    assert sum(isinstance(o, Started) for o in outcomes) == 1
    assert sum(isinstance(o, InFlight) for o in outcomes) == 49


async def test_in_flight_tells_how_long_the_lock_has_left(client: Redis, namespace: str) -> None:
    idem = store(client, namespace, lock_ttl=timedelta(seconds=30))
    await idem.begin("k", "fp")
    outcome = await idem.begin("k", "fp")
    assert isinstance(outcome, InFlight)
    assert 25 < outcome.retry_after <= 30


async def test_the_lock_and_the_answer_expire_after_their_ttls(
    client: Redis, namespace: str
) -> None:
    idem = store(client, namespace, ttl=timedelta(hours=24), lock_ttl=timedelta(seconds=30))
    key = f"{namespace}:idempotency:k"
    await idem.begin("k", "fp")
    assert 29_000 < await client.pttl(key) <= 30_000

    await idem.complete("k", "fp", CREATED)
    assert 24 * 3600_000 - 5_000 < await client.pttl(key) <= 24 * 3600_000


async def test_a_crashed_requests_lock_expires_so_a_retry_can_run(
    client: Redis, namespace: str
) -> None:
    idem = store(client, namespace, lock_ttl=timedelta(milliseconds=100))
    assert isinstance(await idem.begin("k", "fp"), Started)
    assert isinstance(await idem.begin("k", "fp"), InFlight)
    await asyncio.sleep(0.15)
    assert isinstance(await idem.begin("k", "fp"), Started)


async def test_abandon_releases_the_key_at_once(client: Redis, namespace: str) -> None:
    idem = store(client, namespace)
    started = await idem.begin("k", "fp")
    assert isinstance(started, Started)

    assert await idem.abandon("k", token=started.token)

    assert isinstance(await idem.begin("k", "fp"), Started)


async def test_abandon_with_a_stale_token_keeps_the_retrys_lock(
    client: Redis, namespace: str
) -> None:
    idem = store(client, namespace, lock_ttl=timedelta(milliseconds=100))
    first = await idem.begin("k", "fp")
    await asyncio.sleep(0.15)  # the first request outlived its lock
    second = await idem.begin("k", "fp")
    assert isinstance(first, Started) and isinstance(second, Started)

    assert not await idem.abandon("k", token=first.token)

    assert isinstance(await idem.begin("k", "fp"), InFlight)


async def test_abandon_never_removes_a_stored_answer(client: Redis, namespace: str) -> None:
    idem = store(client, namespace)
    await idem.begin("k", "fp")
    await idem.complete("k", "fp", CREATED)
    assert not await idem.abandon("k")
    assert await idem.begin("k", "fp") == Replay(CREATED)


async def test_the_first_stored_answer_stays(client: Redis, namespace: str) -> None:
    idem = store(client, namespace)
    await idem.begin("k", "fp")
    late = StoredResponse(status=201, body=b'{"orderId":"o-2"}')
    assert await idem.complete("k", "fp", CREATED)
    assert not await idem.complete("k", "fp", late)
    assert await idem.begin("k", "fp") == Replay(CREATED)


async def test_a_request_answering_after_its_lock_expired_is_still_stored(
    client: Redis, namespace: str
) -> None:
    idem = store(client, namespace, lock_ttl=timedelta(milliseconds=50))
    await idem.begin("k", "fp")
    await asyncio.sleep(0.1)
    assert await idem.complete("k", "fp", CREATED)
    assert await idem.begin("k", "fp") == Replay(CREATED)


async def test_an_answer_is_not_stored_over_another_requests_lock(
    client: Redis, namespace: str
) -> None:
    idem = store(client, namespace, lock_ttl=timedelta(milliseconds=50))
    await idem.begin("k", "fp-1")
    await asyncio.sleep(0.1)
    assert isinstance(await idem.begin("k", "fp-2"), Started)  # the key was free again

    assert not await idem.complete("k", "fp-1", CREATED)
    assert await idem.begin("k", "fp-1") == Mismatch()


async def test_binary_bodies_and_a_client_decoding_responses_round_trip(
    redis: str, namespace: str
) -> None:
    client = Redis.from_url(redis, decode_responses=True)
    try:
        idem = store(client, namespace)
        answer = StoredResponse(status=400, body=b"\x00\xff not utf-8", headers={"x-a": "1"})
        await idem.begin("k", "fp")
        await idem.complete("k", "fp", answer)
        assert await idem.begin("k", "fp") == Replay(answer)
    finally:
        await client.aclose()
