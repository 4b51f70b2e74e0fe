"""The simulated provider adapter: Stripe-like idempotency keys, transient errors, latency."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest

from services.payments.adapters.simulated import SimulatedProvider
from services.payments.domain import outcomes, simulation
from services.runtime.resilience import TransientError


async def authorize(
    provider: SimulatedProvider, payment_method: str = "pm_x", key: str | None = None
) -> outcomes.AuthorizationOutcome:
    order_id = uuid.uuid4()
    return await provider.authorize(
        order_id=order_id,
        amount=1000,
        currency="EUR",
        payment_method=payment_method,
        idempotency_key=key or f"authorize-{order_id}",
    )


async def test_a_repeated_key_gets_the_first_answer_without_a_new_decision() -> None:
    provider = SimulatedProvider(rates=simulation.Rates(approval_rate=0.5), rng=random.Random(3))
    answers = {await authorize(provider, key="k-1") for _ in range(20)}
    assert len(answers) == 1
    assert provider.calls["authorize"] == 20
    fresh = {type(await authorize(provider)) for _ in range(40)}
    assert fresh == {outcomes.Authorized, outcomes.Declined}  # new keys decide anew


async def test_outcomes_carry_intent_like_references() -> None:
    provider = SimulatedProvider(rng=random.Random(5))
    approved = await authorize(provider, "pm_card_visa")
    pending = await authorize(provider, "pm_card_authenticationRequired")
    declined = await authorize(provider, "pm_card_chargeDeclinedInsufficientFunds")
    assert isinstance(approved, outcomes.Authorized)
    assert isinstance(pending, outcomes.Pending)
    assert isinstance(declined, outcomes.Declined)
    assert declined.decline_code == "insufficient_funds"
    references = {approved.reference, pending.reference, declined.reference}
    assert len(references) == 3 and all(r and r.startswith("pi_sim_") for r in references)


async def test_a_transient_failure_is_raised_and_not_remembered() -> None:
    provider = SimulatedProvider(rates=simulation.Rates(transient_error_rate=1.0))
    with pytest.raises(TransientError):
        await authorize(provider, "pm_card_visa", key="k-2")
    provider.rates = simulation.Rates(transient_error_rate=0.0)
    assert isinstance(await authorize(provider, "pm_card_visa", key="k-2"), outcomes.Authorized)


async def test_refunds_are_idempotent_per_key_and_cancel_calls_off() -> None:
    provider = SimulatedProvider(rng=random.Random(9))
    order_id = uuid.uuid4()
    refunds = [
        await provider.refund(
            order_id=order_id,
            reference="pi_sim_1",
            amount=1000,
            currency="EUR",
            idempotency_key=f"refund-{order_id}",
        )
        for _ in range(3)
    ]
    assert len(set(refunds)) == 1 and refunds[0].reference.startswith("re_sim_")
    canceled = await provider.cancel(
        order_id=order_id, reference="pi_sim_2", idempotency_key=f"cancel-{order_id}"
    )
    assert canceled == outcomes.Canceled("pi_sim_2")
    assert (provider.calls["refund"], provider.calls["cancel"]) == (3, 1)


async def test_latency_is_slept_through_the_injected_sleep() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    provider = SimulatedProvider(latency=timedelta(milliseconds=250), sleep=sleep)
    await authorize(provider, "pm_card_visa")
    assert slept == [0.25]
    assert provider.name == "simulated"
