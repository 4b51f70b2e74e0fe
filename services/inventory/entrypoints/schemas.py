"""Inventory's HTTP bodies: camelCase on the wire, with the bounds the contract promises.

The routes in ``entrypoints.api`` parse requests into these and answer with them; their
JSON schemas are the service's OpenAPI document, which the saga operator's client and the
schemathesis test read. Rules that need the stock (or span lines, like a repeated SKU) are
the domain's; these only bound each field, strictly (``services.runtime.fields``: a quantity
of ``true`` or ``"2"`` is refused, not coerced).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict
from pydantic.alias_generators import to_camel

from services.inventory.domain import errors, rules
from services.inventory.domain.reservation import MAX_REASON, Reservation
from services.inventory.domain.stock import Product
from services.runtime import fields

Sku = Annotated[
    str, Strict(), Field(min_length=1, max_length=rules.MAX_SKU_LENGTH, pattern=rules.SKU_PATTERN)
]
Quantity = Annotated[fields.Count, Field(ge=1, le=rules.MAX_QUANTITY)]  # true is not 1
StatusName = Literal["reserved", "rejected", "committed", "released", "expired"]


class Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Money(Body):
    value: int = Field(ge=0, description="Minor units (cents).")
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class ProductOut(Body):
    sku: str
    name: str
    price: Money
    available: int
    low_stock_threshold: int

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls(
            sku=product.sku,
            name=product.name,
            price=Money(value=product.price.value, currency=product.price.currency),
            available=product.available,
            low_stock_threshold=product.low_stock_threshold,
        )


class ProductPage(Body):
    items: list[ProductOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class LineIn(Body):
    sku: Sku
    quantity: Quantity


class ReservationIn(Body):
    order_id: uuid.UUID
    items: list[LineIn] = Field(min_length=1, max_length=rules.MAX_LINES)


class ReleaseIn(Body):
    reason: Annotated[str, Strict()] = Field(
        default="", max_length=MAX_REASON, pattern=r"^[^\x00]*$"
    )


class LineOut(Body):
    sku: str
    quantity: int


class ReservationOut(Body):
    reservation_id: uuid.UUID
    order_id: uuid.UUID
    status: StatusName
    expires_at: datetime | None = Field(description="Null if it never held stock.")
    items: list[LineOut]
    reason: str = Field(description="Why it was released; empty otherwise.")

    @classmethod
    def of(cls, reservation: Reservation) -> ReservationOut:
        return cls(
            reservation_id=reservation.reservation_id,
            order_id=reservation.order_id,
            status=reservation.status.value,
            expires_at=reservation.expires_at,
            items=[LineOut(sku=line.sku, quantity=line.quantity) for line in reservation.lines],
            reason=reservation.reason,
        )


class ShortageOut(Body):
    sku: str
    requested: int
    available: int
    reason: Literal["out_of_stock", "unknown_sku"]


def encode_cursor(sku: str) -> str:
    """An opaque page cursor: clients pass it back, they do not build it."""
    return base64.urlsafe_b64encode(sku.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        sku = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise errors.InvalidRequest(["cursor is not one this service gave out"]) from e
    if not rules.valid_sku(sku):
        raise errors.InvalidRequest(["cursor is not one this service gave out"])
    return sku
