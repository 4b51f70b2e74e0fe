"""A product and its stock counts, and the only three ways stock moves.

Stock is three counts: ``available`` (can be reserved), ``reserved`` (held for an order) and
``committed`` (sold). ``hold`` moves available → reserved, ``unhold`` reserved → available
(release, expiry), ``sell`` reserved → committed. Their sum, the stock the product was given,
never changes under them and no count goes negative: the reservation tests check it, and the
database's CHECK constraints refuse a negative count if a bug slipped past.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.inventory.domain import errors
from services.inventory.domain.rules import crosses_threshold


@dataclass(frozen=True)
class Price:
    value: int  # minor units
    currency: str


@dataclass(eq=False)
class Product:
    sku: str
    name: str
    price: Price
    available: int
    low_stock_threshold: int = 0
    reserved: int = 0
    committed: int = 0

    @property
    def total(self) -> int:
        """All the stock the product was given: what the three moves conserve."""
        return self.available + self.reserved + self.committed

    def hold(self, quantity: int) -> bool:
        """Reserve ``quantity``; True if that took available stock to the low-stock threshold."""
        if not 0 < quantity <= self.available:
            raise errors.StockInvariantBroken(
                f"cannot hold {quantity} of {self.sku}: {self.available} available"
            )
        before = self.available
        self.available -= quantity
        self.reserved += quantity
        return crosses_threshold(before, self.available, self.low_stock_threshold)

    def unhold(self, quantity: int) -> None:
        """Give reserved stock back (release or expiry)."""
        if not 0 < quantity <= self.reserved:
            raise errors.StockInvariantBroken(
                f"cannot release {quantity} of {self.sku}: {self.reserved} reserved"
            )
        self.reserved -= quantity
        self.available += quantity

    def sell(self, quantity: int) -> None:
        """Turn reserved stock into sold stock (commit)."""
        if not 0 < quantity <= self.reserved:
            raise errors.StockInvariantBroken(
                f"cannot commit {quantity} of {self.sku}: {self.reserved} reserved"
            )
        self.reserved -= quantity
        self.committed += quantity
