"""The provider guard without a breaker: what is retried, and what giving up looks like.

The breaker itself needs Redis; the integration tests cover the guard with it.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from services.payments.domain import errors, outcomes
from services.payments.service_layer.guard import DEFAULT_RETRY_AFTER, ProviderGuard
from services.runtime.resilience import RetryPolicy, TransientError

slept: list[float] = []


async def no_sleep(seconds: float) -> None:
    slept.append(seconds)


def guard(attempts: int = 3) -> ProviderGuard:
    policy = RetryPolicy(
        attempts=attempts,
        initial=timedelta(milliseconds=10),
        maximum=timedelta(milliseconds=50),
        sleep=no_sleep,
        rng=random.Random(1),
    )
    return ProviderGuard(policy)


class Flaky:
    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.error = error or TransientError("provider hiccup")

    async def __call__(self) -> outcomes.Authorized:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return outcomes.Authorized("pi_1")


async def test_transient_failures_are_retried_until_success() -> None:
    slept.clear()
    flaky = Flaky(failures=2)
    assert await guard()("authorize", flaky) == outcomes.Authorized("pi_1")
    assert flaky.calls == 3
    assert len(slept) == 2 and all(0 <= delay <= 0.05 for delay in slept)  # jittered backoff


async def test_running_out_of_attempts_means_unavailable_with_a_hint() -> None:
    flaky = Flaky(failures=5, error=TransientError("slow", retry_after=12))
    with pytest.raises(errors.ProviderUnavailable) as raised:
        await guard()("authorize", flaky)
    assert flaky.calls == 3
    assert raised.value.retry_after == 12
    assert isinstance(raised.value.__cause__, TransientError)


async def test_builtin_network_errors_count_as_transient() -> None:
    flaky = Flaky(failures=5, error=ConnectionResetError("reset"))
    with pytest.raises(errors.ProviderUnavailable) as raised:
        await guard(attempts=2)("refund", flaky)
    assert (flaky.calls, raised.value.retry_after) == (2, DEFAULT_RETRY_AFTER)


async def test_permanent_errors_are_not_retried() -> None:
    flaky = Flaky(failures=5, error=errors.ProviderRejected("bad api key"))
    with pytest.raises(errors.ProviderRejected):
        await guard()("authorize", flaky)
    assert flaky.calls == 1
