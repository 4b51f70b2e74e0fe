"""Calls to the provider, retried and through the circuit breaker every replica shares.

The handlers pass each provider call through a ``ProviderGuard``: transient failures are
retried with exponential backoff and jitter (``RetryPolicy``), each attempt goes through the
Redis-backed ``CircuitBreaker`` (so a failing provider opens it for all replicas together),
and giving up, whether retries ran out or the circuit is open, becomes
``errors.ProviderUnavailable`` with a Retry-After for the API's 503.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.payments.domain import errors
from services.payments.service_layer.metrics import PAYMENT_FAILURES
from services.runtime.circuit_breaker import CircuitBreaker, CircuitOpenError
from services.runtime.resilience import RetryPolicy, is_transient

T = TypeVar("T")

DEFAULT_RETRY_AFTER = 5.0  # seconds, when a transient failure carried no hint


class ProviderGuard:
    def __init__(self, retry: RetryPolicy, breaker: CircuitBreaker | None = None) -> None:
        self._retry = retry
        self._breaker = breaker

    async def __call__(self, operation: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Await ``fn()`` under the retry policy and the breaker; see the module docstring."""
        breaker = self._breaker
        attempt: Callable[[], Awaitable[T]] = fn if breaker is None else lambda: breaker.call(fn)
        try:
            return await self._retry.call(f"payments.{operation}", attempt)
        except CircuitOpenError as e:
            PAYMENT_FAILURES.labels(reason="circuit_open").inc()
            raise errors.ProviderUnavailable(
                "the payment provider is unavailable (circuit open)", retry_after=e.retry_after
            ) from e
        except Exception as e:
            if not is_transient(e):
                raise
            PAYMENT_FAILURES.labels(reason="provider_unavailable").inc()
            hint = getattr(e, "retry_after", None)
            raise errors.ProviderUnavailable(
                f"the payment provider did not answer: {e}",
                retry_after=hint if isinstance(hint, int | float) else DEFAULT_RETRY_AFTER,
            ) from e
