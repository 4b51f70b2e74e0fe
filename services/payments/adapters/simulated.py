"""The simulated payment provider: Stripe's behaviour without Stripe, for local runs and tests.

Chosen with ``PAYMENTS_PROVIDER=simulated`` (the default). Decisions come from the pure
``domain.simulation`` (Stripe's test payment methods, then the configured rates); this adapter
adds what a remote provider has: latency, transient failures raised as ``TransientError``,
and idempotency keys, kept in memory like Stripe keeps them, so a repeated key returns the
first answer instead of deciding again. ``calls`` counts every call by operation, which is
how tests prove a repeated request did not reach the provider.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta

from services.payments.domain import outcomes, simulation
from services.runtime.resilience import TransientError

NAME = "simulated"


class SimulatedProvider:
    def __init__(
        self,
        *,
        rates: simulation.Rates | None = None,
        latency: timedelta = timedelta(0),
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rates = rates or simulation.Rates()
        self._latency = latency.total_seconds()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self.calls: Counter[str] = Counter()
        self._answers: dict[str, outcomes.AuthorizationOutcome | outcomes.Refunded] = {}
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return NAME

    async def authorize(
        self,
        *,
        order_id: uuid.UUID,
        amount: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
    ) -> outcomes.AuthorizationOutcome:
        self.calls["authorize"] += 1
        await self._travel()
        async with self._lock:
            stored = self._answers.get(idempotency_key)
            if isinstance(stored, outcomes.Authorized | outcomes.Pending | outcomes.Declined):
                return stored
            decision = simulation.decide(payment_method, self.rates, self._rng.random)
            outcome = self._outcome(decision)
            self._answers[idempotency_key] = outcome
            return outcome

    async def refund(
        self,
        *,
        order_id: uuid.UUID,
        reference: str,
        amount: int,
        currency: str,
        idempotency_key: str,
    ) -> outcomes.Refunded:
        self.calls["refund"] += 1
        await self._travel()
        async with self._lock:
            stored = self._answers.get(idempotency_key)
            if isinstance(stored, outcomes.Refunded):
                return stored
            decision = simulation.refund_decision(self.rates, self._rng.random)
            if decision.kind is simulation.Kind.TRANSIENT:
                raise TransientError(decision.message)
            refunded = outcomes.Refunded(self._reference("re_sim"))
            self._answers[idempotency_key] = refunded
            return refunded

    async def cancel(
        self, *, order_id: uuid.UUID, reference: str, idempotency_key: str
    ) -> outcomes.CancellationOutcome:
        """A simulated intent waiting for 3-D Secure never completes by itself: it cancels."""
        self.calls["cancel"] += 1
        await self._travel()
        return outcomes.Canceled(reference)

    async def _travel(self) -> None:
        if self._latency > 0:
            await self._sleep(self._latency)

    def _outcome(self, decision: simulation.Decision) -> outcomes.AuthorizationOutcome:
        match decision.kind:
            case simulation.Kind.TRANSIENT:
                # Raised before anything is stored: like a request lost on the way.
                raise TransientError(decision.message)
            case simulation.Kind.APPROVE:
                return outcomes.Authorized(self._reference("pi_sim"))
            case simulation.Kind.REQUIRE_ACTION:
                return outcomes.Pending(self._reference("pi_sim"))
            case simulation.Kind.DECLINE:
                return outcomes.Declined(
                    decline_code=decision.decline_code or "generic_decline",
                    message=decision.message,
                    reference=self._reference("pi_sim"),
                )

    def _reference(self, prefix: str) -> str:
        return f"{prefix}_{self._rng.getrandbits(96):024x}"
