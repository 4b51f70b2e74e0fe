"""The simulator's decisions: Stripe's test payment methods as on Stripe, then the rates."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.payments.domain import simulation
from services.payments.domain.simulation import Kind

ALWAYS = simulation.Rates(approval_rate=1.0, transient_error_rate=0.0)


@pytest.mark.parametrize(
    ("payment_method", "kind", "decline_code"),
    [
        ("pm_card_visa", Kind.APPROVE, None),
        ("pm_card_mastercard", Kind.APPROVE, None),
        ("pm_card_amex", Kind.APPROVE, None),
        ("pm_card_visa_debit", Kind.APPROVE, None),
        ("pm_card_chargeDeclined", Kind.DECLINE, "generic_decline"),
        ("pm_card_visa_chargeDeclined", Kind.DECLINE, "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", Kind.DECLINE, "insufficient_funds"),
        ("pm_card_visa_chargeDeclinedInsufficientFunds", Kind.DECLINE, "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", Kind.DECLINE, "expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", Kind.DECLINE, "incorrect_cvc"),
        ("pm_card_chargeDeclinedFraudulent", Kind.DECLINE, "fraudulent"),
        ("pm_card_chargeDeclinedProcessingError", Kind.DECLINE, "processing_error"),
        ("pm_card_visa_chargeDeclinedLostCard", Kind.DECLINE, "lost_card"),
        ("pm_card_visa_chargeDeclinedStolenCard", Kind.DECLINE, "stolen_card"),
        ("pm_card_radarBlock", Kind.DECLINE, "fraudulent"),
        ("pm_card_authenticationRequired", Kind.REQUIRE_ACTION, None),
        ("pm_card_threeDSecure2Required", Kind.REQUIRE_ACTION, None),
    ],
)
def test_stripe_test_payment_methods(
    payment_method: str, kind: Kind, decline_code: str | None
) -> None:
    # Even a simulator told to approve everything follows Stripe's table for its test cards.
    decision = simulation.decide(payment_method, ALWAYS, random.Random(1).random)
    assert (decision.kind, decision.decline_code) == (kind, decline_code)
    never = simulation.Rates(approval_rate=0.0)
    assert simulation.decide(payment_method, never, random.Random(1).random) == decision


def test_every_decline_in_the_table_has_a_code_and_a_message() -> None:
    for decision in simulation.TEST_PAYMENT_METHODS.values():
        if decision.kind is Kind.DECLINE:
            assert decision.decline_code and decision.message


@pytest.mark.parametrize(
    ("rolls", "rates", "kind"),
    [
        ([0.5, 0.5], simulation.Rates(0.6, 0.0), Kind.APPROVE),
        ([0.5, 0.6], simulation.Rates(0.6, 0.0), Kind.DECLINE),  # the roll must be below
        ([0.1, 0.0], simulation.Rates(1.0, 0.2), Kind.TRANSIENT),
        ([0.2, 0.0], simulation.Rates(1.0, 0.2), Kind.APPROVE),
        ([0.0, 0.0], simulation.Rates(0.0, 0.0), Kind.DECLINE),
    ],
)
def test_unknown_payment_methods_follow_the_rates(
    rolls: list[float], rates: simulation.Rates, kind: Kind
) -> None:
    feed = iter(rolls)
    decision = simulation.decide("pm_something_else", rates, lambda: next(feed))
    assert decision.kind is kind
    if kind is Kind.DECLINE:
        assert decision.decline_code == "generic_decline"


def test_transient_errors_hit_known_cards_too() -> None:
    rates = simulation.Rates(transient_error_rate=1.0)
    assert simulation.decide("pm_card_visa", rates, random.random).kind is Kind.TRANSIENT
    assert simulation.refund_decision(rates, random.random).kind is Kind.TRANSIENT
    assert simulation.refund_decision(ALWAYS, random.random).kind is Kind.APPROVE


def test_rates_approach_their_configured_probabilities() -> None:
    rng = random.Random(42)
    rates = simulation.Rates(approval_rate=0.7, transient_error_rate=0.1)
    kinds = Counter(simulation.decide("pm_x", rates, rng.random).kind for _ in range(20_000))
    assert kinds[Kind.TRANSIENT] / 20_000 == pytest.approx(0.1, abs=0.01)
    assert kinds[Kind.APPROVE] / (20_000 - kinds[Kind.TRANSIENT]) == pytest.approx(0.7, abs=0.015)


@given(st.integers(min_value=0), st.lists(st.sampled_from(["pm_card_visa", "pm_x", "pm_y"])))
def test_a_seed_reproduces_a_sequence_of_decisions(seed: int, methods: list[str]) -> None:
    rates = simulation.Rates(approval_rate=0.5, transient_error_rate=0.3)
    first, second = random.Random(seed), random.Random(seed)
    assert [simulation.decide(m, rates, first.random) for m in methods] == [
        simulation.decide(m, rates, second.random) for m in methods
    ]


@pytest.mark.parametrize(
    ("approval", "transient"), [(-0.1, 0.0), (1.1, 0.0), (0.5, -1.0), (0.5, 2.0)]
)
def test_rates_are_probabilities(approval: float, transient: float) -> None:
    with pytest.raises(ValueError, match="within"):
        simulation.Rates(approval, transient)
