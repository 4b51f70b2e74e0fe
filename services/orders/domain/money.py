"""Order money: integer minor units only, with the bounds every other component relies on.

The Order aggregate totals its lines here. The bounds are those of the event contracts
(``MinorUnits`` in services.runtime.events: 0..10**12) so an order this module accepts can
always be published, stored in a BIGINT, and charged; a total past them is an absurd order
and is refused rather than wrapped, rounded or truncated.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_MINOR_UNITS = 10**12  # 10 billion in a two-decimal currency: no real order is near it
MAX_QUANTITY = 10_000
MAX_LINES = 100


class AmountOutOfRange(ValueError):
    """A price or total outside 0..MAX_MINOR_UNITS."""


def line_total(quantity: int, unit_price: int) -> int:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise AmountOutOfRange(f"quantity {quantity} is outside 1..{MAX_QUANTITY}")
    if not 0 <= unit_price <= MAX_MINOR_UNITS:
        raise AmountOutOfRange(f"unit price {unit_price} is outside 0..{MAX_MINOR_UNITS}")
    return _bounded(quantity * unit_price)


def order_total(lines: Iterable[tuple[int, int]]) -> int:
    """Sum of quantity * unit price over ``(quantity, unit_price)`` pairs, exact and bounded."""
    total = 0
    for quantity, unit_price in lines:
        total = _bounded(total + line_total(quantity, unit_price))
    return total


def _bounded(amount: int) -> int:
    if amount > MAX_MINOR_UNITS:
        raise AmountOutOfRange(f"amount {amount} exceeds the maximum of {MAX_MINOR_UNITS}")
    return amount
