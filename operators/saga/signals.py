"""Late facts from Kafka, as the bridge writes them into ``status.signals``. Pure.

Some results arrive after the step's HTTP reply: a payment the customer confirms with 3-D
Secure (a Stripe webhook, then ``payment.authorized`` or ``payment.failed``), a reservation
the sweeper expires (``inventory.expired``). The bridge stores the latest one of each kind on
the Order; the reconciler turns them into machine outcomes on every pass, and the machine
ignores those that no longer matter, so redelivery and reordering are harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from operators.saga import machine
from services.runtime import events
from services.runtime.events import Event

PAYMENT, RESERVATION = "payment", "reservation"


def signal_for(event: Event) -> tuple[str, dict[str, Any]] | None:
    """The ``status.signals`` entry ``event`` sets, or None if the saga does not need it."""
    payload = event.payload
    if isinstance(payload, events.PaymentAuthorized):
        return PAYMENT, {
            "outcome": "Authorized",
            "paymentId": str(payload.payment_id),
            "eventId": str(event.id),
        }
    if isinstance(payload, events.PaymentFailed):
        return PAYMENT, {
            "outcome": "Failed",
            "paymentId": str(payload.payment_id),
            "message": f"{payload.reason}: {payload.message}"[:512],
            "eventId": str(event.id),
        }
    if isinstance(payload, events.InventoryExpired):
        return RESERVATION, {"outcome": "Expired", "eventId": str(event.id)}
    return None


def outcomes(signals: Mapping[str, Any] | None) -> list[machine.Outcome]:
    found: list[machine.Outcome] = []
    payment = (signals or {}).get(PAYMENT) or {}
    if payment.get("outcome") == "Authorized":
        found.append(machine.PaymentConfirmed(str(payment.get("paymentId", ""))))
    elif payment.get("outcome") == "Failed":
        found.append(machine.PaymentFailed(str(payment.get("message", "payment failed"))))
    reservation = (signals or {}).get(RESERVATION) or {}
    if reservation.get("outcome") == "Expired":
        found.append(machine.ReservationExpired())
    return found
