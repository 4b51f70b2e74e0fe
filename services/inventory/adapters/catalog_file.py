"""The seed catalog file: JSON products read and validated into domain ``Product``s.

``python -m services.inventory seed [--file catalog.json]`` reads it (the default is the
demo catalog shipped in ``services/inventory/data/catalog.json``: ten products, a few with
almost no stock so an out-of-stock saga is one order away). The format::

    {"products": [{"sku": "SKU-1", "name": "...", "price": {"value": 1999, "currency": "EUR"},
                   "stock": 500, "lowStockThreshold": 50}]}
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from services.inventory.domain import rules
from services.inventory.domain.stock import Price, Product

DEFAULT_CATALOG = Path(__file__).resolve().parent.parent / "data" / "catalog.json"


class CatalogError(ValueError):
    """The file is missing, is not JSON, or a product in it breaks a rule."""


class _Strict(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class _Price(_Strict):
    value: int = Field(ge=0, le=10**12)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class _Product(_Strict):
    sku: str = Field(min_length=1, max_length=rules.MAX_SKU_LENGTH, pattern=rules.SKU_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    price: _Price
    stock: int = Field(ge=0, le=2**31 - 1)
    low_stock_threshold: int = Field(default=0, ge=0, le=2**31 - 1)


class _Catalog(_Strict):
    products: list[_Product]

    @model_validator(mode="after")
    def _unique_skus(self) -> _Catalog:
        skus = [p.sku for p in self.products]
        repeated = sorted({sku for sku in skus if skus.count(sku) > 1})
        if repeated:
            raise ValueError(f"SKUs listed more than once: {', '.join(repeated)}")
        return self


def parse(raw: str | bytes) -> list[Product]:
    try:
        catalog = _Catalog.model_validate_json(raw)
    except ValidationError as e:
        raise CatalogError(f"invalid catalog: {e}") from e
    return [
        Product(
            sku=p.sku,
            name=p.name,
            price=Price(p.price.value, p.price.currency),
            available=p.stock,
            low_stock_threshold=p.low_stock_threshold,
        )
        for p in catalog.products
    ]


def load(path: Path = DEFAULT_CATALOG) -> list[Product]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CatalogError(f"cannot read catalog {path}: {e}") from e
    return parse(raw)
