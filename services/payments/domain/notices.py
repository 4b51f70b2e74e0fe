"""A provider's late word on a payment (a verified webhook), in the domain's terms.

The webhook adapter turns a Stripe event into a ``Notice``; the service layer finds the
payment it is about and applies it. Event types that say nothing about an authorization's
outcome have no ``Notice`` (the adapter returns None and the webhook acknowledges them).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass


class Verdict(enum.StrEnum):
    SUCCEEDED = "succeeded"  # payment_intent.succeeded
    FAILED = "failed"  # payment_intent.payment_failed
    CANCELED = "canceled"  # payment_intent.canceled


@dataclass(frozen=True)
class Notice:
    event_id: str  # the provider's event id: a redelivery carries the same one
    event_type: str
    verdict: Verdict
    reference: str  # the PaymentIntent id
    order_id: uuid.UUID | None  # from the intent's metadata, when it carries a valid one
    decline_code: str | None = None
    message: str = ""
