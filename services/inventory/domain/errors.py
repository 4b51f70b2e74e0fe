"""Inventory's errors: one small hierarchy, mapped to problem+json in one place.

Raised by the domain and the service layer; ``entrypoints.errors`` maps each class to an HTTP
status and problem type. ``InvalidRequest`` is the client's fault (422), the ``NotFound``
classes are 404, and ``ReservationConflict`` and its subclasses are 409: the request is valid
but the reservation's state refuses it, and repeating it will not change the answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.inventory.domain.rules import Shortage


class InventoryError(Exception):
    """Base of every error the inventory service raises on purpose."""


class InvalidRequest(InventoryError):
    """The request breaks one of its own rules (no lines, a repeated SKU...): ``problems``."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class ProductNotFound(InventoryError):
    def __init__(self, sku: str) -> None:
        self.sku = sku
        super().__init__(f"product {sku!r} does not exist")


class ReservationNotFound(InventoryError):
    def __init__(self, order_id: uuid.UUID) -> None:
        self.order_id = order_id
        super().__init__(f"order {order_id} has no reservation")


class ReservationConflict(InventoryError):
    """The order's reservation is in a state that refuses this request."""

    def __init__(self, order_id: uuid.UUID, message: str) -> None:
        self.order_id = order_id
        super().__init__(message)


class OutOfStock(ReservationConflict):
    """The order was refused, all lines at once; ``shortages`` names each line that failed."""

    def __init__(self, order_id: uuid.UUID, shortages: Sequence[Shortage]) -> None:
        self.shortages = tuple(shortages)
        super().__init__(
            order_id,
            "cannot reserve "
            + ", ".join(f"{s.sku} ({s.reason}: {s.requested} > {s.available})" for s in shortages),
        )


class ReservationClosed(ReservationConflict):
    """The reservation was released or expired (or never held stock): it cannot be used now."""

    def __init__(self, order_id: uuid.UUID, status: str) -> None:
        self.status = status
        super().__init__(order_id, f"the reservation of order {order_id} is {status}")


class ReservationCommitted(ReservationConflict):
    """Committed stock is sold: releasing it would hand out stock that has left the shelf."""

    def __init__(self, order_id: uuid.UUID) -> None:
        super().__init__(order_id, f"the reservation of order {order_id} is already committed")


class ReservationMismatch(ReservationConflict):
    """The order id was reserved before with other lines: a client bug, not a retry."""

    def __init__(self, order_id: uuid.UUID) -> None:
        super().__init__(order_id, f"order {order_id} was already reserved with different items")


class StockInvariantBroken(InventoryError):
    """A stock move that would make a count negative; the rules make it unreachable."""
