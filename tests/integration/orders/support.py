"""What the orders integration tests share: an in-memory Catalog and table counts.

``MemoryCatalog`` implements our own ``Catalog`` port for tests that are about orders, not
about inventory (the HTTP adapter is tested against the real inventory service); it records
the lookups it was asked for and can be switched to "unavailable".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.orders.adapters import tables
from services.orders.domain import errors
from services.orders.domain.catalog import ProductQuote

PRODUCTS = {
    "SKU-1": ProductQuote("SKU-1", 1999, "EUR"),
    "SKU-2": ProductQuote("SKU-2", 500, "EUR"),
    "SKU-3": ProductQuote("SKU-3", 12_345, "EUR"),
    "SKU-USD": ProductQuote("SKU-USD", 700, "USD"),
}


class MemoryCatalog:
    def __init__(self, products: Mapping[str, ProductQuote] = PRODUCTS) -> None:
        self.products = dict(products)
        self.lookups: list[set[str]] = []
        self.unavailable = False

    async def quote(self, skus: Collection[str]) -> Mapping[str, ProductQuote]:
        self.lookups.append(set(skus))
        if self.unavailable:
            raise errors.CatalogUnavailable("inventory is down (test)", retry_after=7)
        return {sku: self.products[sku] for sku in skus if sku in self.products}


async def count_rows(engine: AsyncEngine) -> dict[str, int]:
    """Rows per orders table, to see what a handler wrote (or did not)."""
    counts = {}
    async with engine.connect() as conn:
        for table in (tables.orders, tables.order_items, tables.order_events, tables.outbox):
            counts[table.name] = int(
                await conn.scalar(select(func.count()).select_from(table)) or 0
            )
    return counts
