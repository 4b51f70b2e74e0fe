"""The Redis-shared circuit breaker on the real Redis: opening, rejecting, the single
half-open trial, sharing between replicas, and failing open when Redis is gone."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from services.runtime.circuit_breaker import BreakerState, CircuitBreaker, CircuitOpenError
from services.runtime.resilience import TransientError

ms = timedelta(milliseconds=1)


@dataclass
class Dependency:
    """The protected call: fails transiently while ``down``; counts the calls that reach it."""

    down: bool = False
    calls: int = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.down:
            raise TransientError("503 from the provider")
        return "ok"


@pytest_asyncio.fixture
async def client(redis: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis)
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def breakers(client: Redis) -> AsyncIterator[Callable[..., CircuitBreaker]]:
    """Builds breakers in a namespace of the test's own; extra ``client=`` for replicas."""
    namespace = f"test-cb-{uuid.uuid4().hex}"
    name = f"stripe-{uuid.uuid4().hex[:8]}"

    def build(*, on: Redis | None = None, **options: Any) -> CircuitBreaker:
        settings: dict[str, Any] = {
            "namespace": namespace,
            "failure_threshold": 3,
            "failure_rate": 0.0,
            "window": 1000 * ms,
            "reset_timeout": 100 * ms,
            "trial_timeout": 1000 * ms,
        }
        settings.update(options)
        return CircuitBreaker(on or client, name, **settings)

    yield build
    async for key in client.scan_iter(match=f"{namespace}:*"):
        await client.delete(key)


async def fail(breaker: CircuitBreaker, dependency: Dependency, times: int) -> None:
    dependency.down = True
    for _ in range(times):
        with contextlib.suppress(TransientError, CircuitOpenError):
            await breaker.call(dependency)


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value("circuit_breaker_state", {"name": name})


def rejected(name: str) -> float:
    return REGISTRY.get_sample_value("circuit_breaker_rejected_total", {"name": name}) or 0.0


async def test_opens_at_the_threshold_and_rejects_without_calling(
    breakers: Callable[..., CircuitBreaker],
) -> None:
    breaker, dependency = breakers(), Dependency()
    await fail(breaker, dependency, 2)
    assert await breaker.state() is BreakerState.CLOSED
    await fail(breaker, dependency, 1)
    assert await breaker.state() is BreakerState.OPEN
    assert gauge(breaker.name) == 2

    with pytest.raises(CircuitOpenError) as raised:
        await breaker.call(dependency)

    assert dependency.calls == 3
    assert raised.value.name == breaker.name
    assert 0 < raised.value.retry_after <= 0.1
    assert rejected(breaker.name) == 1


async def test_successes_keep_it_closed_and_business_errors_are_not_failures(
    breakers: Callable[..., CircuitBreaker],
) -> None:
    breaker, dependency = breakers(), Dependency()
    assert await breaker.call(dependency) == "ok"

    async def declined() -> None:
        raise ValueError("card declined")

    for _ in range(5):
        with pytest.raises(ValueError):
            await breaker.call(declined)
    assert await breaker.state() is BreakerState.CLOSED
    assert gauge(breaker.name) == 0


async def test_the_failure_rate_guards_a_busy_healthy_dependency(
    breakers: Callable[..., CircuitBreaker],
) -> None:
    breaker, dependency = breakers(failure_rate=0.5), Dependency()
    for _ in range(10):
        await breaker.call(dependency)
    await fail(breaker, dependency, 5)  # 5 of 15 fail: a third, under half
    assert await breaker.state() is BreakerState.CLOSED
    await fail(breaker, dependency, 5)  # 10 of 20: half
    assert await breaker.state() is BreakerState.OPEN


async def test_failures_older_than_the_window_are_forgotten(
    breakers: Callable[..., CircuitBreaker],
) -> None:
    breaker, dependency = breakers(window=200 * ms), Dependency()
    await fail(breaker, dependency, 2)
    await asyncio.sleep(0.3)
    await fail(breaker, dependency, 2)
    assert await breaker.state() is BreakerState.CLOSED
    await fail(breaker, dependency, 1)
    assert await breaker.state() is BreakerState.OPEN


async def test_after_the_reset_timeout_a_successful_trial_closes_it(
    breakers: Callable[..., CircuitBreaker],
) -> None:
    breaker, dependency = breakers(), Dependency()
    await fail(breaker, dependency, 3)
    await asyncio.sleep(0.15)
    assert await breaker.state() is BreakerState.HALF_OPEN

    dependency.down = False
    assert await breaker.call(dependency) == "ok"

    assert await breaker.state() is BreakerState.CLOSED
    assert gauge(breaker.name) == 0
    await fail(breaker, dependency, 2)  # the count starts afresh
    assert await breaker.state() is BreakerState.CLOSED


async def test_a_failed_trial_reopens_it_for_another_reset_timeout(
    breakers: Callable[..., CircuitBreaker],
) -> None:
    breaker, dependency = breakers(), Dependency()
    await fail(breaker, dependency, 3)
    await asyncio.sleep(0.15)
    calls = dependency.calls

    with pytest.raises(TransientError):
        await breaker.call(dependency)

    assert dependency.calls == calls + 1
    assert await breaker.state() is BreakerState.OPEN
    with pytest.raises(CircuitOpenError):
        await breaker.call(dependency)
    assert dependency.calls == calls + 1


async def test_half_open_lets_exactly_one_trial_through_across_replicas(
    redis: str, breakers: Callable[..., CircuitBreaker]
) -> None:
    second_client = Redis.from_url(redis)
    try:
        replicas = [breakers(), breakers(on=second_client)]
        dependency = Dependency()
        await fail(replicas[0], dependency, 3)
        await asyncio.sleep(0.15)

        gate, reached = asyncio.Event(), 0

        async def slow_recovery() -> str:
            nonlocal reached
            reached += 1
            await gate.wait()
            return "ok"

        calls = [asyncio.create_task(replicas[i % 2].call(slow_recovery)) for i in range(20)]
        try:
            async with asyncio.timeout(5):  # all but the trial are rejected at once
                while sum(task.done() for task in calls) < 19:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # room for a wrongly admitted second trial to show
            assert reached == 1
            refused = [task for task in calls if task.done()]
            assert all(isinstance(task.exception(), CircuitOpenError) for task in refused)
        finally:
            gate.set()
        trial = next(task for task in calls if task not in refused)
        assert await trial == "ok"
        assert await replicas[1].state() is BreakerState.CLOSED
        assert await replicas[1].call(slow_recovery) == "ok"
    finally:
        await second_client.aclose()


async def test_a_cancelled_trial_hands_the_trial_on_at_once(
    breakers: Callable[..., CircuitBreaker],
) -> None:
    breaker = breakers(trial_timeout=timedelta(seconds=30))
    dependency = Dependency()
    await fail(breaker, dependency, 3)
    await asyncio.sleep(0.15)

    hanging = asyncio.create_task(breaker.call(asyncio.Event().wait))
    await asyncio.sleep(0.05)
    with pytest.raises(CircuitOpenError):  # the trial is taken
        await breaker.call(dependency)
    hanging.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await hanging

    dependency.down = False
    assert await breaker.call(dependency) == "ok"
    assert await breaker.state() is BreakerState.CLOSED


async def test_replicas_share_the_state(
    redis: str, breakers: Callable[..., CircuitBreaker]
) -> None:
    second_client = Redis.from_url(redis)
    try:
        replica_a, replica_b = breakers(), breakers(on=second_client)
        dependency = Dependency()
        await fail(replica_a, dependency, 2)
        await fail(replica_b, dependency, 1)  # failures from both replicas add up
        calls = dependency.calls

        with pytest.raises(CircuitOpenError):
            await replica_a.call(dependency)
        with pytest.raises(CircuitOpenError):
            await replica_b.call(dependency)
        assert dependency.calls == calls
    finally:
        await second_client.aclose()


async def test_breakers_with_other_names_are_independent(
    breakers: Callable[..., CircuitBreaker], client: Redis
) -> None:
    breaker, dependency = breakers(), Dependency()
    await fail(breaker, dependency, 3)
    other = CircuitBreaker(client, f"other-{uuid.uuid4().hex[:8]}", namespace="test-cb-other")
    dependency.down = False
    assert await other.call(dependency) == "ok"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_fails_open_when_redis_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    unreachable = Redis.from_url(f"redis://127.0.0.1:{closed_port()}/0")
    try:
        name = f"no-redis-{uuid.uuid4().hex[:8]}"
        breaker = CircuitBreaker(unreachable, name, failure_threshold=1, redis_timeout=100 * ms)
        dependency = Dependency()
        assert await breaker.call(dependency) == "ok"
        dependency.down = True
        for _ in range(3):  # nothing can be counted, so nothing opens
            with pytest.raises(TransientError):
                await breaker.call(dependency)
        assert dependency.calls == 4
        assert await breaker.state() is BreakerState.CLOSED
        assert "cannot reach Redis" in caplog.text
        errors = REGISTRY.get_sample_value("circuit_breaker_store_errors_total", {"name": name})
        assert errors is not None and errors >= 4
    finally:
        await unreachable.aclose()


async def test_fails_open_quickly_when_redis_hangs() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # read until the client gives up; answer nothing
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hanging = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        breaker = CircuitBreaker(hanging, "hanging-redis", redis_timeout=50 * ms)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await breaker.call(Dependency()) == "ok"
        assert loop.time() - started < 1.0
    finally:
        await hanging.aclose()
        server.close()
        await server.wait_closed()
