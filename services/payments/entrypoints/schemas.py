"""The payments HTTP API's request and response bodies (camelCase on the wire).

The routes in ``entrypoints.api`` validate requests with them and render payments with
``payment_out``; FastAPI publishes them in the OpenAPI document, which is what schemathesis
and the saga operator read. Bounds repeat the domain's, so bad input is refused before any
use case runs; the domain checks the money again for every caller. Request fields are strict
(``services.runtime.fields``): nothing is coerced, no identifier may be blank.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict
from pydantic.alias_generators import to_camel

from services.payments.domain import money
from services.payments.domain.payment import Payment
from services.runtime import fields

Currency = Annotated[str, Strict(), Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])]
StatusName = Literal["pending", "authorized", "failed", "refunded"]


class Schema(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Money(Schema):
    value: int = Field(
        strict=True,  # "1999" or 1999.0 is a client bug, not an amount to guess at
        ge=money.MIN_AMOUNT,
        le=money.MAX_AMOUNT,
        description="minor units (cents)",
        examples=[1999],
    )
    currency: Currency


class CreatePayment(Schema):
    order_id: uuid.UUID
    customer_id: fields.Text = Field(max_length=128)
    amount: Money
    payment_method: fields.Word = Field(max_length=255, examples=["pm_card_visa"])


class PaymentOut(Schema):
    payment_id: uuid.UUID
    order_id: uuid.UUID
    status: StatusName
    provider: str
    provider_reference: str | None
    amount: Money
    decline_code: str | None = None


class RefundOut(Schema):
    order_id: uuid.UUID
    status: Literal["refunded", "nothing_to_refund"]


class WebhookOut(Schema):
    received: Literal[True] = True
    result: Literal["applied", "unchanged", "duplicate", "unknown_payment", "conflict", "ignored"]


def payment_out(payment: Payment) -> PaymentOut:
    return PaymentOut(
        payment_id=payment.id,
        order_id=payment.order_id,
        status=payment.status.value,
        provider=payment.provider,
        provider_reference=payment.provider_reference,
        amount=Money(value=payment.amount, currency=payment.currency),
        decline_code=payment.decline_code,
    )
