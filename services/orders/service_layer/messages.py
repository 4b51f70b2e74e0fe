"""Translation between the domain and the Kafka contracts of services.runtime.events.

Handlers turn the aggregate's domain events into envelopes for the outbox (``order_event``),
and the saga-event consumer turns inventory and payments envelopes into domain facts
(``fact_from``). Keeping both directions here keeps the contracts out of the domain.
"""

from __future__ import annotations

from services.orders.domain import events, facts, model
from services.runtime import events as contracts


def order_event(
    order: model.Order, event: events.OrderEvent, *, correlation_id: str
) -> contracts.Event:
    payload: contracts.EventPayload
    match event:
        case events.OrderPlaced():
            payload = contracts.OrderCreated(
                order_id=order.id,
                customer_id=order.customer_id,
                items=[
                    contracts.OrderLine(
                        sku=line.sku, quantity=line.quantity, unit_price=line.unit_price
                    )
                    for line in order.lines
                ],
                amount=contracts.Money(value=order.amount, currency=order.currency),
                payment_method=order.payment_method,
            )
        case events.OrderCompleted():
            payload = contracts.OrderCompleted(order_id=order.id)
        case events.OrderCancelled(reason=reason):
            payload = contracts.OrderCancelled(order_id=order.id, reason=reason)
        case _:
            raise TypeError(f"no contract for domain event {event!r}")
    return contracts.Event.of(payload, correlation_id=correlation_id)


def fact_from(event: contracts.Event) -> facts.Fact | None:
    """The fact an inventory or payments event reports; None for events orders ignores."""
    seen = (event.id, event.occurred_at)
    match event.payload:
        case contracts.InventoryReserved():
            return facts.StockReserved(*seen)
        case contracts.InventoryRejected(lines=lines):
            return facts.StockRejected(
                *seen,
                lines=tuple(
                    facts.RejectedLine(
                        sku=line.sku,
                        requested=line.requested,
                        available=line.available,
                        reason=line.reason,
                    )
                    for line in lines
                ),
            )
        case contracts.InventoryReleased(reason=reason):
            return facts.StockReleased(*seen, reason=_text(reason))
        case contracts.InventoryExpired():
            return facts.StockExpired(*seen)
        case contracts.InventoryCommitted():
            return facts.StockCommitted(*seen)
        case contracts.PaymentAuthorized():
            return facts.PaymentAuthorized(*seen)
        case contracts.PaymentFailed(reason=reason, message=message, decline_code=code):
            return facts.PaymentFailed(
                *seen,
                reason=_text(reason),
                message=_text(message),
                decline_code=_text(code) if code else None,
            )
        case contracts.PaymentRefunded():
            return facts.PaymentRefunded(*seen)
        case _:
            return None  # low-stock alerts, and our own order events


def _text(value: str) -> str:
    """Free text from another service as Postgres can store it (text cannot hold NUL)."""
    return value.replace("\x00", "")
