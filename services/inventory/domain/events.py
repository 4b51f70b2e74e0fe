"""Domain events the reservation raises; the service layer publishes them through the outbox.

Past tense, one per state change the saga or others must hear about. The service layer turns
each into its ``services.runtime.events`` contract (``service_layer.messages``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.inventory.domain.rules import Line, Shortage


@dataclass(frozen=True)
class InventoryEvent:
    order_id: uuid.UUID


@dataclass(frozen=True)
class Reserved(InventoryEvent):
    reservation_id: uuid.UUID
    lines: tuple[Line, ...]
    expires_at: datetime


@dataclass(frozen=True)
class Rejected(InventoryEvent):
    shortages: tuple[Shortage, ...]


@dataclass(frozen=True)
class Committed(InventoryEvent):
    reservation_id: uuid.UUID


@dataclass(frozen=True)
class Released(InventoryEvent):
    reservation_id: uuid.UUID
    reason: str


@dataclass(frozen=True)
class Expired(InventoryEvent):
    reservation_id: uuid.UUID


@dataclass(frozen=True)
class LowStock(InventoryEvent):
    """The order whose reservation took ``sku`` to its threshold (events are keyed by order)."""

    sku: str
    available: int
    threshold: int
