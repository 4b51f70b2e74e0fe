"""Order money: integer minor units only, totalled exactly and bounded by the shared range.

The Order aggregate totals its lines here. An order's total must lie in the one money range
of ``services.runtime.money`` (MIN_AMOUNT..MAX_AMOUNT), the range payments can charge, the
event contracts carry and the Order CRD accepts: an order this module accepts can always be
published, admitted as an Order and paid. A total outside it is refused before the order
exists, never wrapped, rounded or truncated. Unit prices need no bound of their own: a line's
total is at least its unit price, so an absurd price makes an out-of-range total.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.runtime.money import MAX_AMOUNT as MAX_AMOUNT
from services.runtime.money import MIN_AMOUNT as MIN_AMOUNT

MAX_QUANTITY = 10_000
MAX_LINES = 100


class AmountOutOfRange(ValueError):
    """A quantity or unit price outside its bounds, or a total outside the money range."""

    def __init__(self, message: str, *, total: int | None = None) -> None:
        self.total = total  # set when the lines are valid and only their sum is out of range
        super().__init__(message)


def line_total(quantity: int, unit_price: int) -> int:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise AmountOutOfRange(f"quantity {quantity} is outside 1..{MAX_QUANTITY}")
    if unit_price < 0:
        raise AmountOutOfRange(f"unit price {unit_price} is negative")
    return quantity * unit_price


def order_total(lines: Iterable[tuple[int, int]]) -> int:
    """Sum of quantity * unit price over ``(quantity, unit_price)`` pairs, exact and in range."""
    total = sum(line_total(quantity, unit_price) for quantity, unit_price in lines)
    if not MIN_AMOUNT <= total <= MAX_AMOUNT:
        raise AmountOutOfRange(
            f"amount {total} is outside the range an order may total,"
            f" {MIN_AMOUNT}..{MAX_AMOUNT} minor units",
            total=total,
        )
    return total
