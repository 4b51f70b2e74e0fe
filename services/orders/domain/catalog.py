"""The Catalog port: where an order's prices come from at the moment it is placed.

``place_order`` asks it for the SKUs of one order; the HTTP adapter
(``adapters.catalog.InventoryCatalog``) answers from inventory's ``GET /products/{sku}``, and
unit tests use an in-memory one. A port rather than a client so the service layer never knows
about HTTP, retries or circuit breakers; it only sees a quote, a missing SKU, or
``errors.CatalogUnavailable``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ProductQuote:
    sku: str
    unit_price: int  # minor units
    currency: str


class Catalog(Protocol):
    async def quote(self, skus: Collection[str]) -> Mapping[str, ProductQuote]:
        """The current price of each known SKU; unknown SKUs are absent from the answer.

        Raises ``errors.CatalogUnavailable`` when the answer cannot be had now.
        """
        ...
