"""Domain events → the ``services.runtime.events`` contracts published on ``kubesaga.inventory``.

The only place inventory's events take their wire shape; ``handlers`` emits what it returns
into the unit of work, which stores it in the outbox with the state change.
"""

from __future__ import annotations

from typing import Literal

from services.inventory.domain import events
from services.inventory.domain.rules import ShortageReason
from services.runtime import events as contracts

_REASONS: dict[ShortageReason, Literal["out_of_stock", "unknown_sku"]] = {
    ShortageReason.OUT_OF_STOCK: "out_of_stock",
    ShortageReason.UNKNOWN_SKU: "unknown_sku",
}


def payload(event: events.InventoryEvent) -> contracts.EventPayload:
    match event:
        case events.Reserved(order_id=order_id, reservation_id=rid, lines=lines, expires_at=exp):
            return contracts.InventoryReserved(
                order_id=order_id,
                reservation_id=rid,
                items=[contracts.ReservedLine(sku=ln.sku, quantity=ln.quantity) for ln in lines],
                expires_at=exp,
            )
        case events.Rejected(order_id=order_id, shortages=shortages):
            return contracts.InventoryRejected(
                order_id=order_id,
                lines=[
                    contracts.RejectedLine(
                        sku=s.sku,
                        requested=s.requested,
                        available=s.available,
                        reason=_REASONS[s.reason],
                    )
                    for s in shortages
                ],
            )
        case events.Committed(order_id=order_id, reservation_id=rid):
            return contracts.InventoryCommitted(order_id=order_id, reservation_id=rid)
        case events.Released(order_id=order_id, reservation_id=rid, reason=reason):
            return contracts.InventoryReleased(order_id=order_id, reservation_id=rid, reason=reason)
        case events.Expired(order_id=order_id, reservation_id=rid):
            return contracts.InventoryExpired(order_id=order_id, reservation_id=rid)
        case events.LowStock(order_id=order_id, sku=sku, available=available, threshold=t):
            return contracts.InventoryLowStock(
                order_id=order_id, sku=sku, available=available, threshold=t
            )
    raise TypeError(f"no contract for {type(event).__name__}")


def envelope(
    event: events.InventoryEvent, *, correlation_id: str, causation_id: str | None = None
) -> contracts.Event:
    return contracts.Event.of(
        payload(event), correlation_id=correlation_id, causation_id=causation_id
    )
