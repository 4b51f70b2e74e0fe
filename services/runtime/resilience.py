"""Retrying transient failures: exponential backoff with jitter, up to a limit.

Adapters (the Stripe client in payments, the service clients the saga operator uses) raise
``TransientError`` for what may pass on its own: timeouts, 5xx answers, connection refused.
Service code wraps such calls in a ``RetryPolicy``; everything else, business rejections above
all (a declined card, an out-of-stock answer), goes straight to the caller, since asking again
cannot change the answer. When the attempts run out the last error is raised unchanged, so the
caller maps it once (payments answers 503 with Retry-After). tenacity runs the loop; this
module adds the jitter formulas with an injectable random source and sleep (tests run without
real sleeping), the ``retries_total`` metric and a log line per retry.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, TypeVar

import tenacity
from prometheus_client import Counter

logger = logging.getLogger(__name__)

RETRIES = Counter(
    "retries", "Calls retried after a transient failure, by operation.", ["operation"]
)

T = TypeVar("T")
Jitter = Literal["full", "decorrelated"]


class TransientError(Exception):
    """A failure that may pass if the same call is made again: timeout, 5xx, refused connection.

    ``retry_after`` (seconds) carries the server's hint, such as a 503's ``Retry-After``; the
    retry waits at least that long, within the policy's ``maximum``.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def is_transient(error: BaseException) -> bool:
    """The default test: our ``TransientError`` and the builtin network/timeout errors."""
    return isinstance(error, TransientError | TimeoutError | ConnectionError)


def backoff(
    attempt: int,
    previous: float,
    *,
    initial: float,
    maximum: float,
    jitter: Jitter,
    rng: random.Random,
) -> float:
    """Seconds to wait before retry ``attempt`` (1 = the first retry).

    ``full`` draws from ``[0, min(maximum, initial * 2**(attempt-1))]``; ``decorrelated`` from
    ``[initial, previous * 3]`` capped at ``maximum``, where ``previous`` is the last delay
    (``initial`` before the first retry). Both are the AWS Architecture Blog formulas; they
    spread replicas that failed together, so they do not come back in lock step.
    """
    if jitter == "full":
        exponent = min(max(attempt, 1) - 1, 62)
        return rng.uniform(0.0, min(maximum, initial * 2.0**exponent))
    return min(maximum, rng.uniform(initial, max(initial, previous) * 3))


@dataclass(frozen=True, slots=True)
class RetryAttempt:
    """What ``on_retry`` hears before each wait."""

    operation: str
    attempt: int  # the attempt that just failed, 1-based
    error: BaseException
    delay: float  # seconds until the next attempt


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently to repeat a call that failed transiently.

    ``attempts`` counts every call, the first included. ``sleep`` and ``rng`` exist for tests
    and are otherwise left alone. A policy is immutable and safe to share between tasks.
    """

    attempts: int = 3
    initial: timedelta = timedelta(milliseconds=100)
    maximum: timedelta = timedelta(seconds=5)
    jitter: Jitter = "full"
    is_transient: Callable[[BaseException], bool] = is_transient
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not timedelta(0) < self.initial <= self.maximum:
            raise ValueError("need 0 < initial <= maximum")

    async def call(
        self,
        operation: str,
        fn: Callable[[], Awaitable[T]],
        *,
        on_retry: Callable[[RetryAttempt], None] | None = None,
    ) -> T:
        """Await ``fn()`` until it succeeds, fails permanently, or the attempts run out.

        ``operation`` names the call in logs and in ``retries_total{operation}``; keep it to a
        small fixed set (``stripe.authorize``, not an order id). Raises the last error as is.
        """
        wait = _Wait(self)

        async def before_sleep(state: tenacity.RetryCallState) -> None:
            error = _error_of(state)
            delay = state.upcoming_sleep
            RETRIES.labels(operation=operation).inc()
            logger.warning(
                "retrying %s in %.3fs after attempt %d of %d failed: %r",
                operation,
                delay,
                state.attempt_number,
                self.attempts,
                error,
            )
            if on_retry is not None:
                on_retry(RetryAttempt(operation, state.attempt_number, error, delay))

        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=wait,
            retry=tenacity.retry_if_exception(self.is_transient),
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await fn()
        raise AssertionError("unreachable: tenacity either returns or re-raises")


class _Wait(tenacity.wait.wait_base):
    """One call's delays; holds the previous delay that decorrelated jitter grows from."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._previous = policy.initial.total_seconds()

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        policy = self._policy
        maximum = policy.maximum.total_seconds()
        delay = backoff(
            retry_state.attempt_number,
            self._previous,
            initial=policy.initial.total_seconds(),
            maximum=maximum,
            jitter=policy.jitter,
            rng=policy.rng,
        )
        self._previous = delay
        hint = getattr(_error_of(retry_state), "retry_after", None)
        if isinstance(hint, int | float) and hint > delay:
            delay = min(float(hint), maximum)
        return delay


def _error_of(state: tenacity.RetryCallState) -> BaseException:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    if error is None:  # tenacity only waits and sleeps after a failed attempt
        raise AssertionError("retry state without a failure")
    return error
