"""The event contracts: one envelope and a versioned payload model per event type.

Every event that crosses Kafka is built and parsed here, so a producer cannot publish what a
consumer would refuse. Producers build events with ``Event.of(payload, ...)``; consumers call
``decode(raw)`` and match on the typed ``event.payload``. A new payload version is a new class
with the same ``TYPE`` and a higher ``VERSION``; both stay registered while consumers migrate.
The orders, inventory and payments services and the saga operator all import this module.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from services.runtime import money

ORDERS_TOPIC = "kubesaga.orders"
INVENTORY_TOPIC = "kubesaga.inventory"
PAYMENTS_TOPIC = "kubesaga.payments"
TOPICS = (ORDERS_TOPIC, INVENTORY_TOPIC, PAYMENTS_TOPIC)


def dead_letter_topic(topic: str, group: str) -> str:
    """One dead-letter topic per consumed topic and consumer group (design section 4)."""
    return f"{topic}.dlq.{group}"


class InvalidEvent(ValueError):
    """A record that is not a valid kubesaga event; it goes to the dead-letter topic."""


Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
# A price or amount: never above the one money range's maximum (services.runtime.money).
MinorUnits = Annotated[int, Field(ge=0, le=money.MAX_AMOUNT)]


class Contract(BaseModel):
    """camelCase on the wire, snake_case in Python, immutable, and no unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )


class Money(Contract):
    value: MinorUnits
    currency: Currency


class EventPayload(Contract):
    """Base of every payload; subclasses name their type, version and topic."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str]
    order_id: uuid.UUID


# --- orders -------------------------------------------------------------------------------


class OrderLine(Contract):
    sku: Sku
    quantity: int = Field(ge=1, le=10_000)
    unit_price: MinorUnits


class OrderCreated(EventPayload):
    TYPE = "order.created"
    TOPIC = ORDERS_TOPIC
    customer_id: str = Field(min_length=1, max_length=128)
    items: list[OrderLine] = Field(min_length=1, max_length=100)
    amount: Money
    payment_method: str = Field(min_length=1, max_length=255)


class OrderCompleted(EventPayload):
    TYPE = "order.completed"
    TOPIC = ORDERS_TOPIC


class OrderCancelled(EventPayload):
    TYPE = "order.cancelled"
    TOPIC = ORDERS_TOPIC
    reason: str = Field(min_length=1, max_length=500)


# --- inventory ----------------------------------------------------------------------------


class ReservedLine(Contract):
    sku: Sku
    quantity: int = Field(ge=1)


class RejectedLine(Contract):
    sku: Sku
    requested: int = Field(ge=1)
    available: int = Field(ge=0)
    reason: Literal["out_of_stock", "unknown_sku"]


class InventoryReserved(EventPayload):
    TYPE = "inventory.reserved"
    TOPIC = INVENTORY_TOPIC
    reservation_id: uuid.UUID
    items: list[ReservedLine] = Field(min_length=1)
    expires_at: AwareDatetime


class InventoryRejected(EventPayload):
    TYPE = "inventory.rejected"
    TOPIC = INVENTORY_TOPIC
    lines: list[RejectedLine] = Field(min_length=1)


class InventoryReleased(EventPayload):
    TYPE = "inventory.released"
    TOPIC = INVENTORY_TOPIC
    reservation_id: uuid.UUID
    reason: str = Field(default="", max_length=500)


class InventoryCommitted(EventPayload):
    TYPE = "inventory.committed"
    TOPIC = INVENTORY_TOPIC
    reservation_id: uuid.UUID


class InventoryExpired(EventPayload):
    TYPE = "inventory.expired"
    TOPIC = INVENTORY_TOPIC
    reservation_id: uuid.UUID


class InventoryLowStock(EventPayload):
    """Raised by the reservation that took a product's available stock to its threshold."""

    TYPE = "inventory.low_stock"
    TOPIC = INVENTORY_TOPIC
    sku: Sku
    available: int = Field(ge=0)
    threshold: int = Field(ge=0)


# --- payments -----------------------------------------------------------------------------


class PaymentAuthorized(EventPayload):
    TYPE = "payment.authorized"
    TOPIC = PAYMENTS_TOPIC
    payment_id: uuid.UUID
    amount: Money
    provider: str
    provider_reference: str


class PaymentFailed(EventPayload):
    """A business rejection (declined card, canceled intent): final for the payment step."""

    TYPE = "payment.failed"
    TOPIC = PAYMENTS_TOPIC
    payment_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=100)  # e.g. card_declined, canceled
    message: str = Field(default="", max_length=500)
    decline_code: str | None = None


class PaymentRefunded(EventPayload):
    TYPE = "payment.refunded"
    TOPIC = PAYMENTS_TOPIC
    payment_id: uuid.UUID
    amount: Money


PAYLOADS: dict[tuple[str, int], type[EventPayload]] = {
    (cls.TYPE, cls.VERSION): cls
    for cls in (
        OrderCreated,
        OrderCompleted,
        OrderCancelled,
        InventoryReserved,
        InventoryRejected,
        InventoryReleased,
        InventoryCommitted,
        InventoryExpired,
        InventoryLowStock,
        PaymentAuthorized,
        PaymentFailed,
        PaymentRefunded,
    )
}


class Event(Contract):
    """The envelope of design section 4; ``payload`` is the typed model for (type, version)."""

    id: uuid.UUID
    type: str
    version: int = Field(ge=1)
    occurred_at: AwareDatetime
    aggregate_id: str = Field(min_length=1, max_length=128)
    correlation_id: str = Field(min_length=1, max_length=128)
    causation_id: str | None = Field(default=None, max_length=128)
    payload: SerializeAsAny[EventPayload]

    @field_validator("payload", mode="before")
    @classmethod
    def _payload_for_type(cls, value: Any, info: ValidationInfo) -> Any:
        key = (info.data.get("type"), info.data.get("version"))
        model = PAYLOADS.get(key)  # type: ignore[arg-type]
        if model is None:
            raise ValueError(f"unknown event type/version {key[0]!r} v{key[1]}")
        if isinstance(value, model):
            return value
        if isinstance(value, EventPayload):
            raise ValueError(f"payload {type(value).__name__} does not match type {key[0]!r}")
        return model.model_validate(value)

    @classmethod
    def of(
        cls,
        payload: EventPayload,
        *,
        correlation_id: str,
        causation_id: str | None = None,
        aggregate_id: str | None = None,
    ) -> Event:
        """A new event carrying ``payload``; the aggregate defaults to the order."""
        return cls(
            id=uuid.uuid4(),
            type=payload.TYPE,
            version=payload.VERSION,
            occurred_at=datetime.now(UTC),
            aggregate_id=aggregate_id or str(payload.order_id),
            correlation_id=correlation_id,
            causation_id=causation_id,
            payload=payload,
        )

    @property
    def topic(self) -> str:
        return self.payload.TOPIC

    def encode(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


def decode(raw: bytes | str | None) -> Event:
    """Parse and validate a record value; ``InvalidEvent`` says what is wrong with it."""
    if not raw:
        raise InvalidEvent("empty record value")
    try:
        return Event.model_validate_json(raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in e.errors(include_url=False)
        )
        raise InvalidEvent(problems) from e
