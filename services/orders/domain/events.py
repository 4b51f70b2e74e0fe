"""Domain events the Order aggregate raises; the service layer publishes them via the outbox.

Past tense, one per state change others must hear about. They carry only the order id and what
is not already on the aggregate; the service layer reads the rest from the order when it
builds the ``services.runtime.events`` contract.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class OrderEvent:
    order_id: uuid.UUID


@dataclass(frozen=True)
class OrderPlaced(OrderEvent):
    pass


@dataclass(frozen=True)
class OrderCompleted(OrderEvent):
    pass


@dataclass(frozen=True)
class OrderCancelled(OrderEvent):
    reason: str
