"""Retry policy: which errors are retried, how often, how long it waits, what it counts.

No real sleeping: the policy's ``sleep`` records the delays and its ``rng`` is seeded.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from services.runtime import resilience
from services.runtime.resilience import RetryAttempt, RetryPolicy, TransientError


@dataclass
class Script:
    """A callable failing with the given errors in turn, then returning ``"ok"``."""

    errors: list[BaseException]
    calls: int = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@dataclass
class Sleeps:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def policy(sleeps: Sleeps, **overrides: object) -> RetryPolicy:
    settings: dict[str, object] = {
        "attempts": 4,
        "initial": timedelta(milliseconds=100),
        "maximum": timedelta(seconds=1),
        "sleep": sleeps,
        "rng": random.Random(7),
    }
    settings.update(overrides)
    return RetryPolicy(**settings)  # type: ignore[arg-type]


def retries(operation: str) -> float:
    return REGISTRY.get_sample_value("retries_total", {"operation": operation}) or 0.0


async def test_transient_failures_are_retried_until_success() -> None:
    sleeps, operation = Sleeps(), f"op-{uuid.uuid4().hex[:8]}"
    fn = Script([TransientError("503"), TimeoutError(), ConnectionRefusedError()])
    seen: list[RetryAttempt] = []

    assert await policy(sleeps).call(operation, fn, on_retry=seen.append) == "ok"

    assert fn.calls == 4
    assert len(sleeps.delays) == 3
    assert [a.attempt for a in seen] == [1, 2, 3]
    assert [a.delay for a in seen] == sleeps.delays
    assert all(a.operation == operation for a in seen)
    assert retries(operation) == 3


async def test_gives_up_after_the_attempts_and_raises_the_last_error() -> None:
    sleeps, operation = Sleeps(), f"op-{uuid.uuid4().hex[:8]}"
    last = TransientError("still down")
    fn = Script([TransientError("down"), TransientError("down"), last, TransientError("x")])

    with pytest.raises(TransientError) as raised:
        await policy(sleeps, attempts=3).call(operation, fn)

    assert raised.value is last
    assert fn.calls == 3
    assert len(sleeps.delays) == 2
    assert retries(operation) == 2


@pytest.mark.parametrize("error", [ValueError("card declined"), KeyError("sku"), RuntimeError()])
async def test_business_and_unknown_errors_are_not_retried(error: Exception) -> None:
    sleeps, operation = Sleeps(), f"op-{uuid.uuid4().hex[:8]}"
    fn = Script([error])

    with pytest.raises(type(error)):
        await policy(sleeps).call(operation, fn)

    assert fn.calls == 1
    assert sleeps.delays == []
    assert retries(operation) == 0


async def test_a_custom_test_decides_what_is_transient() -> None:
    sleeps = Sleeps()
    fn = Script([LookupError("not yet"), TransientError("ignored by this policy")])
    only_lookups = policy(sleeps, is_transient=lambda e: isinstance(e, LookupError))

    with pytest.raises(TransientError):
        await only_lookups.call("custom", fn)
    assert fn.calls == 2


async def test_one_attempt_means_no_retry() -> None:
    sleeps = Sleeps()
    fn = Script([TransientError("down")])
    with pytest.raises(TransientError):
        await policy(sleeps, attempts=1).call("once", fn)
    assert fn.calls == 1
    assert sleeps.delays == []


async def test_full_jitter_delays_stay_under_the_doubling_ceiling() -> None:
    sleeps = Sleeps()
    fn = Script([TransientError("down")] * 6)
    with pytest.raises(TransientError):
        await policy(sleeps, attempts=6, rng=random.Random(1)).call("full", fn)

    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0]  # initial * 2**n, capped at maximum
    assert len(sleeps.delays) == 5
    for delay, ceiling in zip(sleeps.delays, ceilings, strict=True):
        assert 0.0 <= delay <= ceiling
    assert len(set(sleeps.delays)) == 5  # jittered, not a fixed schedule


async def test_decorrelated_jitter_grows_from_the_previous_delay() -> None:
    sleeps = Sleeps()
    fn = Script([TransientError("down")] * 8)
    with pytest.raises(TransientError):
        await policy(sleeps, attempts=8, jitter="decorrelated").call("decorrelated", fn)

    previous = 0.1
    for delay in sleeps.delays:
        assert 0.1 <= delay <= min(1.0, previous * 3)
        previous = delay


async def test_the_servers_retry_after_is_honoured_within_the_maximum() -> None:
    sleeps = Sleeps()
    fn = Script([TransientError("429", retry_after=0.5), TransientError("503", retry_after=60)])
    assert await policy(sleeps).call("hinted", fn) == "ok"
    assert sleeps.delays == [0.5, 1.0]


async def test_same_seed_same_delays() -> None:
    first, second = Sleeps(), Sleeps()
    for sleeps in (first, second):
        with pytest.raises(TransientError):
            await policy(sleeps, rng=random.Random(42)).call(
                "seeded", Script([TransientError("x")] * 4)
            )
    assert first.delays == second.delays


@given(
    attempt=st.integers(min_value=1, max_value=200),
    initial=st.floats(min_value=0.001, max_value=10),
    factor=st.floats(min_value=1, max_value=1000),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_full_jitter_bounds(attempt: int, initial: float, factor: float, seed: int) -> None:
    maximum = initial * factor
    delay = resilience.backoff(
        attempt, 0.0, initial=initial, maximum=maximum, jitter="full", rng=random.Random(seed)
    )
    assert 0.0 <= delay <= min(maximum, initial * 2.0 ** min(attempt - 1, 62))


@given(
    previous=st.floats(min_value=0.0, max_value=1000),
    initial=st.floats(min_value=0.001, max_value=10),
    factor=st.floats(min_value=1, max_value=1000),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_decorrelated_jitter_bounds(
    previous: float, initial: float, factor: float, seed: int
) -> None:
    maximum = initial * factor
    delay = resilience.backoff(
        3,
        previous,
        initial=initial,
        maximum=maximum,
        jitter="decorrelated",
        rng=random.Random(seed),
    )
    assert initial <= delay or delay == maximum
    assert delay <= min(maximum, max(initial, previous) * 3)


@pytest.mark.parametrize(
    "overrides",
    [
        {"attempts": 0},
        {"initial": timedelta(0)},
        {"initial": timedelta(seconds=2), "maximum": timedelta(seconds=1)},
    ],
)
def test_nonsense_policies_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        policy(Sleeps(), **overrides)


def test_transient_classification() -> None:
    assert resilience.is_transient(TransientError("x"))
    assert resilience.is_transient(TimeoutError())
    assert resilience.is_transient(ConnectionResetError())
    assert not resilience.is_transient(ValueError())
    assert not resilience.is_transient(OSError("disk full"))
