"""What a payment provider answers: the outcomes the Payment aggregate understands.

Provider adapters (simulated, Stripe) return these; the aggregate applies them. A transient
failure is not an outcome: adapters raise it, and the service layer retries.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Authorized:
    """The money is secured; ``reference`` is the provider's id (a PaymentIntent id)."""

    reference: str


@dataclass(frozen=True)
class Pending:
    """The provider needs more (3-D Secure, processing): a webhook will tell the result."""

    reference: str


@dataclass(frozen=True)
class Declined:
    """A business rejection, final for this payment: asking again cannot change it."""

    decline_code: str
    message: str = ""
    reference: str | None = None
    reason: str = "card_declined"


AuthorizationOutcome = Authorized | Pending | Declined


@dataclass(frozen=True)
class Refunded:
    reference: str


@dataclass(frozen=True)
class Canceled:
    """A pending authorization was called off at the provider before it succeeded."""

    reference: str


CancellationOutcome = Canceled | Authorized  # Authorized: it succeeded before the cancel landed
