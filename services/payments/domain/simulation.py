"""How the simulated provider decides: Stripe's test payment methods, then configured rates.

The simulated provider adapter (``adapters.simulated``) asks ``decide`` for every
authorization, with a random source it owns (seeded in tests), and acts on the answer. Stripe's
documented test PaymentMethods behave as they do on Stripe, so a saga run against the
simulator and one against Stripe's test mode agree: ``pm_card_visa`` approves,
``pm_card_chargeDeclinedInsufficientFunds`` declines with ``insufficient_funds``,
``pm_card_authenticationRequired`` waits for 3-D Secure (pending until a webhook). Any other
payment method is approved with probability ``approval_rate``. Independently of the card, a
call fails transiently with probability ``transient_error_rate``, as a network would.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass


class Kind(enum.StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    REQUIRE_ACTION = "require_action"  # 3-D Secure: pending until a webhook says more
    TRANSIENT = "transient"  # this call failed in transit; the same call may succeed


@dataclass(frozen=True)
class Decision:
    kind: Kind
    decline_code: str | None = None
    message: str = ""


APPROVE = Decision(Kind.APPROVE)
REQUIRE_ACTION = Decision(Kind.REQUIRE_ACTION, message="the card requires authentication")
TRANSIENT = Decision(Kind.TRANSIENT, message="simulated provider error")


def _declined(code: str, message: str) -> Decision:
    return Decision(Kind.DECLINE, code, message)


GENERIC_DECLINE = _declined("generic_decline", "Your card was declined.")

# Stripe's test PaymentMethods (docs.stripe.com/testing), by what they do on confirmation.
# Stripe lists some declines both with and without ``visa_``; both spellings behave alike.
_APPROVING = (
    "pm_card_visa",
    "pm_card_visa_debit",
    "pm_card_mastercard",
    "pm_card_mastercard_debit",
    "pm_card_mastercard_prepaid",
    "pm_card_amex",
    "pm_card_discover",
    "pm_card_diners",
    "pm_card_jcb",
    "pm_card_unionpay",
    "pm_card_authenticationRequiredOnSetup",  # asks for 3DS only when saved, not when paying
)
_DECLINING = {
    "chargeDeclined": GENERIC_DECLINE,
    "chargeDeclinedInsufficientFunds": _declined(
        "insufficient_funds", "Your card has insufficient funds."
    ),
    "chargeDeclinedLostCard": _declined("lost_card", "Your card was declined."),
    "chargeDeclinedStolenCard": _declined("stolen_card", "Your card was declined."),
    "chargeDeclinedExpiredCard": _declined("expired_card", "Your card has expired."),
    "chargeDeclinedIncorrectCvc": _declined(
        "incorrect_cvc", "Your card's security code is incorrect."
    ),
    "chargeDeclinedProcessingError": _declined(
        "processing_error", "An error occurred while processing your card. Try again later."
    ),
    "chargeDeclinedFraudulent": _declined("fraudulent", "Your card was declined."),
    "chargeDeclinedVelocityLimitExceeded": _declined(
        "card_velocity_exceeded", "Your card was declined for making repeated attempts too often."
    ),
}
_REQUIRING_ACTION = (
    "pm_card_authenticationRequired",
    "pm_card_threeDSecure2Required",
    "pm_card_threeDSecureRequired",
)

TEST_PAYMENT_METHODS: Mapping[str, Decision] = {
    **dict.fromkeys(_APPROVING, APPROVE),
    **{f"pm_card_{name}": decision for name, decision in _DECLINING.items()},
    **{f"pm_card_visa_{name}": decision for name, decision in _DECLINING.items()},
    "pm_card_radarBlock": _declined("fraudulent", "Your card was declined."),
    **dict.fromkeys(_REQUIRING_ACTION, REQUIRE_ACTION),
}


@dataclass(frozen=True)
class Rates:
    """Probabilities in [0, 1] for payment methods the test table does not know."""

    approval_rate: float = 0.95
    transient_error_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("approval_rate", "transient_error_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], not {value}")


def decide(payment_method: str, rates: Rates, roll: Callable[[], float]) -> Decision:
    """The simulator's answer to one authorization call.

    ``roll`` returns uniform numbers in [0, 1) (``random.Random.random``); it is drawn once for
    the transient-error chance and, for unknown payment methods, once more for approval, so a
    seeded sequence of calls is reproducible.
    """
    if roll() < rates.transient_error_rate:
        return TRANSIENT
    known = TEST_PAYMENT_METHODS.get(payment_method)
    if known is not None:
        return known
    return APPROVE if roll() < rates.approval_rate else GENERIC_DECLINE


def refund_decision(rates: Rates, roll: Callable[[], float]) -> Decision:
    """Refunds of authorized payments always succeed, unless the call fails in transit."""
    return TRANSIENT if roll() < rates.transient_error_rate else APPROVE
