"""Translation from the Payment aggregate's domain events to the Kafka contracts.

Handlers turn each new domain event into an envelope for the outbox. Keeping the contracts
here keeps them out of the domain.
"""

from __future__ import annotations

from services.payments.domain import events
from services.payments.domain.payment import Payment
from services.runtime import events as contracts


def payment_event(
    payment: Payment,
    event: events.PaymentEvent,
    *,
    correlation_id: str,
    causation_id: str | None = None,
) -> contracts.Event:
    amount = contracts.Money(value=payment.amount, currency=payment.currency)
    payload: contracts.EventPayload
    match event:
        case events.PaymentAuthorized():
            payload = contracts.PaymentAuthorized(
                order_id=payment.order_id,
                payment_id=payment.id,
                amount=amount,
                provider=payment.provider,
                provider_reference=payment.provider_reference or "",
            )
        case events.PaymentFailed(reason=reason, decline_code=code, message=message):
            payload = contracts.PaymentFailed(
                order_id=payment.order_id,
                payment_id=payment.id,
                reason=reason,
                message=message,
                decline_code=code,
            )
        case events.PaymentRefunded():
            payload = contracts.PaymentRefunded(
                order_id=payment.order_id, payment_id=payment.id, amount=amount
            )
        case _:
            raise TypeError(f"no contract for domain event {event!r}")
    return contracts.Event.of(payload, correlation_id=correlation_id, causation_id=causation_id)
