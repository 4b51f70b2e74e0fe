"""The Payment aggregate: one per order, and the rules for how its status may change.

The service layer creates it with ``Payment.start`` and changes it only through the provider's
answers (``settle``, ``authorize``, ``fail``) and compensation (``refund``). The rules:

- A payment starts ``pending`` and leaves it once: to ``authorized`` or ``failed``. It stays
  ``pending`` while the provider waits for a webhook (3-D Secure, processing).
- ``authorized`` may become ``refunded``; ``failed`` and ``refunded`` are final.
- Repeating a change that already happened is a no-op that returns False (webhooks and the
  saga operator both repeat themselves); a change the status forbids raises
  ``InvalidTransition``.

Each real change appends a domain event to ``events``; the service layer publishes them.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from services.payments.domain import errors, events, money, outcomes

MAX_REASON = 100  # the event contract's limits
MAX_MESSAGE = 500


class Status(enum.StrEnum):
    PENDING = "pending"
    AUTHORIZED = "authorized"
    FAILED = "failed"
    REFUNDED = "refunded"


class Compensation(enum.StrEnum):
    """What undoing a payment takes, by its status."""

    REFUND = "refund"  # authorized: give the money back
    CANCEL = "cancel"  # pending at the provider: call it off (and refund if it just succeeded)
    ALREADY_REFUNDED = "already_refunded"
    NOTHING = "nothing"  # failed: no money moved


_COMPENSATION = {
    Status.AUTHORIZED: Compensation.REFUND,
    Status.PENDING: Compensation.CANCEL,
    Status.REFUNDED: Compensation.ALREADY_REFUNDED,
    Status.FAILED: Compensation.NOTHING,
}


@dataclass(eq=False)
class Payment:
    id: uuid.UUID
    order_id: uuid.UUID
    amount: int  # minor units
    currency: str
    provider: str
    created_at: datetime
    updated_at: datetime
    status: Status = Status.PENDING
    provider_reference: str | None = None
    failure_reason: str | None = None
    decline_code: str | None = None
    message: str = ""
    events: list[events.PaymentEvent] = field(default_factory=list, repr=False)

    @classmethod
    def start(
        cls,
        *,
        payment_id: uuid.UUID,
        order_id: uuid.UUID,
        amount: int,
        currency: str,
        provider: str,
        now: datetime,
    ) -> Payment:
        """A new pending payment; an absurd amount or a malformed currency is refused here."""
        found = money.problems(amount, currency)
        if found:
            raise errors.InvalidPayment(found)
        return cls(
            id=payment_id,
            order_id=order_id,
            amount=amount,
            currency=currency,
            provider=provider,
            created_at=now,
            updated_at=now,
        )

    @property
    def final(self) -> bool:
        return self.status in (Status.FAILED, Status.REFUNDED)

    @property
    def compensation(self) -> Compensation:
        return _COMPENSATION[self.status]

    def matches(self, amount: int, currency: str) -> bool:
        """Whether a repeated request asks for this payment (and not a different one)."""
        return (self.amount, self.currency) == (amount, currency)

    def settle(self, outcome: outcomes.AuthorizationOutcome, *, now: datetime) -> bool:
        """Apply the provider's answer to the authorization; False when nothing changed."""
        match outcome:
            case outcomes.Authorized(reference=reference):
                return self.authorize(reference, now=now)
            case outcomes.Pending(reference=reference):
                return self.await_confirmation(reference, now=now)
            case outcomes.Declined():
                return self.fail(
                    outcome.reason,
                    decline_code=outcome.decline_code,
                    message=outcome.message,
                    reference=outcome.reference,
                    now=now,
                )

    def await_confirmation(self, reference: str, *, now: datetime) -> bool:
        """The provider took the payment but decides later; remember where to look."""
        if self.status is not Status.PENDING:
            raise errors.InvalidTransition(self.order_id, self.status, "wait for confirmation")
        if self.provider_reference == reference:
            return False
        self.provider_reference = reference
        self.updated_at = now
        return True

    def authorize(self, reference: str | None, *, now: datetime) -> bool:
        if self.status is Status.AUTHORIZED:
            return False
        if self.status is not Status.PENDING:
            raise errors.InvalidTransition(self.order_id, self.status, "authorize")
        self.status = Status.AUTHORIZED
        self.provider_reference = reference or self.provider_reference
        self.updated_at = now
        self.events.append(events.PaymentAuthorized(self.id, self.order_id))
        return True

    def fail(
        self,
        reason: str,
        *,
        decline_code: str | None = None,
        message: str = "",
        reference: str | None = None,
        now: datetime,
    ) -> bool:
        if self.status is Status.FAILED:
            return False
        if self.status is not Status.PENDING:
            raise errors.InvalidTransition(self.order_id, self.status, "fail")
        self.status = Status.FAILED
        self.failure_reason = (reason or "failed")[:MAX_REASON]
        self.decline_code = decline_code[:MAX_REASON] if decline_code else None
        self.message = message[:MAX_MESSAGE]
        self.provider_reference = reference or self.provider_reference
        self.updated_at = now
        self.events.append(
            events.PaymentFailed(
                self.id, self.order_id, self.failure_reason, self.decline_code, self.message
            )
        )
        return True

    def refund(self, *, now: datetime) -> bool:
        if self.status is Status.REFUNDED:
            return False
        if self.status is not Status.AUTHORIZED:
            raise errors.InvalidTransition(self.order_id, self.status, "refund")
        self.status = Status.REFUNDED
        self.updated_at = now
        self.events.append(events.PaymentRefunded(self.id, self.order_id))
        return True
