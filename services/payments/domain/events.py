"""Domain events the Payment aggregate raises; the service layer publishes them via the outbox.

Past tense, one per state change the saga must hear about. They carry what is not already
on the aggregate; the service layer reads the rest from the payment when it builds the
``services.runtime.events`` contract.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class PaymentEvent:
    payment_id: uuid.UUID
    order_id: uuid.UUID


@dataclass(frozen=True)
class PaymentAuthorized(PaymentEvent):
    pass


@dataclass(frozen=True)
class PaymentFailed(PaymentEvent):
    reason: str
    decline_code: str | None
    message: str


@dataclass(frozen=True)
class PaymentRefunded(PaymentEvent):
    pass
