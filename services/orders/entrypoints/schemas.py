"""The orders HTTP API's request and response bodies (camelCase on the wire).

The routes in ``entrypoints.api`` validate requests with them and render domain orders with
``order_out`` / ``order_detail``; FastAPI publishes them in the OpenAPI document, which is
what schemathesis and clients read. Bounds repeat the domain's, so most bad input is refused
before any use case runs; the domain checks again (duplicates, totals) for every caller.
Request fields are strict (``services.runtime.fields``): ``"quantity": true`` or ``"2"`` and a
blank ``customerId`` are refused with a 422 naming the field, never coerced.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, Strict
from pydantic.alias_generators import to_camel

from services.orders.domain import model, money
from services.runtime import fields

Sku = Annotated[
    str, Strict(), Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
Currency = Annotated[str, Strict(), Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])]
PhaseName = Literal["Pending", "StockReserved", "PaymentAuthorized", "Completed", "Cancelled"]
StepName = Literal[
    "created",
    "stock_reserved",
    "stock_rejected",
    "stock_released",
    "stock_expired",
    "stock_committed",
    "payment_authorized",
    "payment_failed",
    "payment_refunded",
    "completed",
    "cancelled",
]


class Schema(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class OrderItemIn(Schema):
    sku: Sku
    quantity: fields.Count = Field(ge=1, le=money.MAX_QUANTITY)


class CreateOrder(Schema):
    customer_id: fields.Text = Field(max_length=model.MAX_CUSTOMER_ID)
    items: list[OrderItemIn] = Field(min_length=1, max_length=money.MAX_LINES)
    currency: Currency
    payment_method: fields.Word = Field(
        max_length=model.MAX_PAYMENT_METHOD, examples=["pm_card_visa"]
    )


class CancelOrder(Schema):
    reason: fields.Text = Field(max_length=model.MAX_REASON)


class Money(Schema):
    # An answer's bound, not a request's: stored orders are shown as they are; the money range
    # (services.runtime.money) binds new orders, in the domain.
    value: int = Field(ge=0, description="minor units (cents)")
    currency: Currency


class MoneyIn(Schema):
    """An amount a request states: within the money range, or no order could have it."""

    value: fields.Count = Field(ge=money.MIN_AMOUNT, le=money.MAX_AMOUNT, description="minor units")
    currency: Currency


class OrderLineIn(Schema):
    sku: Sku
    quantity: fields.Count = Field(ge=1, le=money.MAX_QUANTITY)
    unit_price: fields.Count = Field(ge=0, le=money.MAX_AMOUNT)


class VerifyOrder(Schema):
    """The terms an Order's saga would run on (its spec), for orders to confirm."""

    customer_id: fields.Text = Field(max_length=model.MAX_CUSTOMER_ID)
    items: list[OrderLineIn] = Field(min_length=1, max_length=money.MAX_LINES)
    amount: MoneyIn
    payment_method: fields.Word = Field(max_length=model.MAX_PAYMENT_METHOD)

    def terms(self) -> model.Terms:
        return model.Terms(
            customer_id=self.customer_id,
            lines=tuple(model.Line(i.sku, i.quantity, i.unit_price) for i in self.items),
            currency=self.amount.currency,
            amount=self.amount.value,
            payment_method=self.payment_method,
        )


class OrderItemOut(Schema):
    sku: str
    quantity: int
    unit_price: int = Field(description="minor units, the catalog price when ordered")


class RejectedLineOut(Schema):
    sku: str
    requested: int
    available: int
    reason: str


class TimelineEntryOut(Schema):
    step: StepName
    at: AwareDatetime
    phase: PhaseName = Field(description="the order's phase once this step was recorded")
    reason: str = ""
    rejected: list[RejectedLineOut] = Field(default_factory=list)


class OrderOut(Schema):
    order_id: uuid.UUID
    phase: PhaseName
    customer_id: str
    items: list[OrderItemOut]
    amount: Money
    payment_method: str
    reason: str = Field(default="", description="why the order was cancelled")
    created_at: datetime
    updated_at: datetime


class OrderDetail(OrderOut):
    timeline: list[TimelineEntryOut]


class OrderPage(Schema):
    items: list[OrderOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


def order_out(order: model.Order) -> OrderOut:
    return OrderOut(
        order_id=order.id,
        phase=order.phase.value,
        customer_id=order.customer_id,
        items=[
            OrderItemOut(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price)
            for line in order.lines
        ],
        amount=Money(value=order.amount, currency=order.currency),
        payment_method=order.payment_method,
        reason=order.reason,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


def order_detail(order: model.Order) -> OrderDetail:
    return OrderDetail(
        **order_out(order).model_dump(),
        timeline=[
            TimelineEntryOut(
                step=entry.step.value,
                at=entry.at,
                phase=entry.phase.value,
                reason=entry.reason,
                rejected=[
                    RejectedLineOut(
                        sku=line.sku,
                        requested=line.requested,
                        available=line.available,
                        reason=line.reason,
                    )
                    for line in entry.rejected
                ],
            )
            for entry in order.timeline
        ],
    )
