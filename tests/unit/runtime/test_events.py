"""The event contracts: every registered type round-trips, and bad records say what is wrong."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.runtime import events
from services.runtime.events import Event, EventPayload, InvalidEvent, decode

ORDER = uuid.uuid4()
RESERVATION = uuid.uuid4()
PAYMENT = uuid.uuid4()
EUR_10 = events.Money(value=1000, currency="EUR")

SAMPLES: list[EventPayload] = [
    events.OrderCreated(
        order_id=ORDER,
        customer_id="c-1",
        items=[events.OrderLine(sku="SKU-1", quantity=2, unit_price=500)],
        amount=EUR_10,
        payment_method="pm_card_visa",
    ),
    events.OrderCompleted(order_id=ORDER),
    events.OrderCancelled(order_id=ORDER, reason="OutOfStock"),
    events.InventoryReserved(
        order_id=ORDER,
        reservation_id=RESERVATION,
        items=[events.ReservedLine(sku="SKU-1", quantity=2)],
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    ),
    events.InventoryRejected(
        order_id=ORDER,
        lines=[events.RejectedLine(sku="SKU-1", requested=3, available=1, reason="out_of_stock")],
    ),
    events.InventoryReleased(order_id=ORDER, reservation_id=RESERVATION, reason="compensation"),
    events.InventoryCommitted(order_id=ORDER, reservation_id=RESERVATION),
    events.InventoryExpired(order_id=ORDER, reservation_id=RESERVATION),
    events.InventoryLowStock(order_id=ORDER, sku="SKU-1", available=2, threshold=5),
    events.PaymentAuthorized(
        order_id=ORDER,
        payment_id=PAYMENT,
        amount=EUR_10,
        provider="simulated",
        provider_reference="sim_1",
    ),
    events.PaymentFailed(
        order_id=ORDER, payment_id=PAYMENT, reason="card_declined", decline_code="generic_decline"
    ),
    events.PaymentRefunded(order_id=ORDER, payment_id=PAYMENT, amount=EUR_10),
]


def test_every_registered_type_has_a_sample() -> None:
    assert {type(sample) for sample in SAMPLES} == set(events.PAYLOADS.values())


@pytest.mark.parametrize("payload", SAMPLES, ids=lambda p: p.TYPE)
def test_round_trip(payload: EventPayload) -> None:
    event = Event.of(payload, correlation_id="corr-1", causation_id="cause-1")
    decoded = decode(event.encode())
    assert decoded == event
    assert type(decoded.payload) is type(payload)
    assert decoded.topic == payload.TOPIC
    assert decoded.aggregate_id == str(ORDER)


def test_wire_format_is_camel_case() -> None:
    event = Event.of(SAMPLES[0], correlation_id="corr-1")
    wire = json.loads(event.encode())
    assert set(wire) == {
        "id",
        "type",
        "version",
        "occurredAt",
        "aggregateId",
        "correlationId",
        "causationId",
        "payload",
    }
    assert wire["payload"]["items"] == [{"sku": "SKU-1", "quantity": 2, "unitPrice": 500}]
    assert wire["payload"]["paymentMethod"] == "pm_card_visa"


def _wire(**changes: Any) -> bytes:
    wire = json.loads(Event.of(SAMPLES[1], correlation_id="c").encode())
    for key, value in changes.items():
        if value is None:
            wire.pop(key)
        else:
            wire[key] = value
    return json.dumps(wire).encode()


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        (b"", "empty record value"),
        (b"not json", "Invalid JSON"),
        (_wire(type="order.shipped"), "unknown event type/version 'order.shipped' v1"),
        (_wire(version=2), "unknown event type/version 'order.completed' v2"),
        (_wire(correlationId=None), "correlationId: Field required"),
        (_wire(occurredAt="2030-01-01T00:00:00"), "occurredAt"),
        (_wire(payload={"orderId": "nope"}), "payload.orderId"),
        (_wire(payload={"orderId": str(ORDER), "extra": 1}), "payload.extra"),
        (_wire(type="order.cancelled"), "payload.reason: Field required"),
    ],
)
def test_invalid_records_name_the_problem(raw: bytes, complaint: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode(raw)
    assert complaint in str(caught.value)


@pytest.mark.parametrize(
    "amount",
    [
        {"value": -1, "currency": "EUR"},
        {"value": 1, "currency": "eur"},
        {"value": 1.5, "currency": "EUR"},
    ],
)
def test_money_is_non_negative_integer_minor_units(amount: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="amount"):
        events.PaymentRefunded.model_validate(
            {"orderId": str(ORDER), "paymentId": str(PAYMENT), "amount": amount}
        )


def test_a_payload_of_another_type_is_refused() -> None:
    with pytest.raises(ValueError, match=r"does not match type 'order\.cancelled'"):
        Event(
            id=uuid.uuid4(),
            type="order.cancelled",
            version=1,
            occurred_at=datetime.now(UTC),
            aggregate_id="a",
            correlation_id="c",
            payload=events.OrderCompleted(order_id=ORDER),
        )


def test_dead_letter_topic_names_topic_and_group() -> None:
    assert events.dead_letter_topic("kubesaga.orders", "saga") == "kubesaga.orders.dlq.saga"
