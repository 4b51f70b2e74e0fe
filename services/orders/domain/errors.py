"""The orders service's errors, one small hierarchy mapped to problem+json in one place.

Raised by the domain and the service layer; ``entrypoints.errors`` maps each class to an HTTP
status. ``OrderRejected`` and its subclasses are the client's fault (422), ``OrderConflict``
asks for something the order's phase forbids (409), ``CatalogUnavailable`` is temporary (503).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable


class OrdersError(Exception):
    """Base of every error the orders service raises on purpose."""


class OrderRejected(OrdersError):
    """The order as asked cannot be taken; ``problems`` says why, one line each."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class UnknownSkus(OrderRejected):
    def __init__(self, skus: Iterable[str]) -> None:
        self.skus = tuple(sorted(set(skus)))
        super().__init__([f"unknown SKU {sku!r}" for sku in self.skus])


class CurrencyMismatch(OrderRejected):
    def __init__(self, currency: str, mismatched: dict[str, str]) -> None:
        self.currency = currency
        self.mismatched = dict(sorted(mismatched.items()))
        super().__init__(
            f"SKU {sku!r} is priced in {theirs}, not {currency}"
            for sku, theirs in self.mismatched.items()
        )


class AmountOutOfRange(OrderRejected):
    """The items, at the catalog's prices, total an amount no payment can take.

    The range is the one of ``services.runtime.money``; refusing here, before the order
    exists, is what keeps such an order from ending as a "declined" payment later.
    """

    def __init__(self, amount: int, minimum: int, maximum: int) -> None:
        self.amount = amount
        self.minimum = minimum
        self.maximum = maximum
        super().__init__(
            [
                f"the items total {amount} minor units (the order's amount: quantity x"
                f" unitPrice over items); an order's amount must be {minimum} to {maximum}"
            ]
        )


class OrderNotFound(OrdersError):
    def __init__(self, order_id: uuid.UUID) -> None:
        self.order_id = order_id
        super().__init__(f"order {order_id} does not exist")


class OrderConflict(OrdersError):
    """A command the order's current (final) phase forbids, e.g. completing a cancelled order."""

    def __init__(self, order_id: uuid.UUID, command: str, phase: str) -> None:
        self.order_id = order_id
        self.command = command
        self.phase = phase
        super().__init__(f"order {order_id} is {phase}; it cannot be {command}")


class TermsDiffer(OrdersError):
    """A saga's terms are not the order's (an Order made or changed by hand): it must not run."""

    def __init__(self, order_id: uuid.UUID, differences: Iterable[str]) -> None:
        self.order_id = order_id
        self.differences = tuple(differences)
        super().__init__(
            f"order {order_id} was placed on other terms: " + "; ".join(self.differences)
        )


class CatalogUnavailable(OrdersError):
    """Prices cannot be read now (inventory down, slow, or its circuit open): try again later."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)
