"""What other services report about an order: the saga facts the aggregate records.

The service layer builds one of these from each inventory or payments event (the Kafka
contract stays out of the domain); ``Order.record`` appends it to the timeline and, for the
two progress facts, moves the phase. Each carries the id of the event it came from, so a
redelivered event is recognised by the aggregate itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Fact:
    event_id: uuid.UUID
    occurred_at: datetime


@dataclass(frozen=True)
class StockReserved(Fact):
    pass


@dataclass(frozen=True)
class RejectedLine:
    sku: str
    requested: int
    available: int
    reason: str  # out_of_stock, unknown_sku


@dataclass(frozen=True)
class StockRejected(Fact):
    lines: tuple[RejectedLine, ...]


@dataclass(frozen=True)
class StockReleased(Fact):
    reason: str = ""


@dataclass(frozen=True)
class StockExpired(Fact):
    pass


@dataclass(frozen=True)
class StockCommitted(Fact):
    pass


@dataclass(frozen=True)
class PaymentAuthorized(Fact):
    pass


@dataclass(frozen=True)
class PaymentFailed(Fact):
    reason: str
    message: str = ""
    decline_code: str | None = None


@dataclass(frozen=True)
class PaymentRefunded(Fact):
    pass
