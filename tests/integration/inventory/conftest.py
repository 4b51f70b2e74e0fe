"""Fixtures for inventory's integration tests: a migrated database and units of work on it.

``inventory_db`` migrates the module's fresh ``pg`` database with the real Alembic revisions
(never ``create_all``), seeds the demo catalog, and yields an ``InventoryDb``: its engine, a
unit-of-work factory and helpers to add products and read back stock and outbox rows.
``inventory_api`` serves the real app on that database over HTTP (``server.serving``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.inventory.adapters import catalog_file, tables
from services.inventory.adapters.unit_of_work import InventoryUnitOfWork
from services.inventory.bootstrap import create_app
from services.inventory.domain.stock import Price, Product
from services.inventory.migrations import SCRIPT_LOCATION
from services.inventory.service_layer import handlers
from services.inventory.settings import InventorySettings
from services.runtime.db import create_engine, session_factory, sqlalchemy_url
from services.runtime.events import Event, decode
from services.runtime.migrations import upgrade
from services.runtime.settings import AuthSettings, DatabaseSettings
from tests.integration.inventory.server import serving


@dataclass(frozen=True)
class InventoryDb:
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    def uow(self) -> InventoryUnitOfWork:
        return InventoryUnitOfWork(self.sessions)

    async def add_products(self, *products: Product) -> None:
        await handlers.seed(self.uow(), catalog=products)

    async def stock(self, sku: str) -> dict[str, Any]:
        p = tables.products
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(p.c.available, p.c.reserved, p.c.committed).where(p.c.sku == sku)
                )
            ).one()
        return dict(row._mapping)

    async def events(self, *order_ids: object) -> list[Event]:
        """The outbox's events of these orders (all when none given), in commit order."""
        o = tables.outbox
        query = select(o.c.value).order_by(o.c.id)
        if order_ids:
            query = query.where(o.c.key.in_([str(i) for i in order_ids]))
        async with self.engine.connect() as conn:
            return [decode(row.value) for row in await conn.execute(query)]


def product(sku: str, stock: int, *, threshold: int = 0, price: int = 1000) -> Product:
    return Product(
        sku=sku,
        name=f"Product {sku}",
        price=Price(price, "EUR"),
        available=stock,
        low_stock_threshold=threshold,
    )


@pytest_asyncio.fixture(scope="module")
async def inventory_db(pg: str) -> AsyncIterator[InventoryDb]:
    url = sqlalchemy_url(pg)
    await upgrade(SCRIPT_LOCATION, url)
    engine = create_engine(DatabaseSettings(url=url, pool_size=20, max_overflow=20))
    try:
        db = InventoryDb(url, engine, session_factory(engine))
        await handlers.seed(db.uow(), catalog=catalog_file.load())
        yield db
    finally:
        await engine.dispose()


TOKEN = "inventory-test-token"


@dataclass(frozen=True)
class RunningApi:
    base_url: str
    token: str
    db: InventoryDb

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def api_settings(url: str, **overrides: Any) -> InventorySettings:
    """Settings for an in-process inventory on ``url``: no relay (tests read the outbox)."""
    return InventorySettings(
        environment="test",
        db=DatabaseSettings(url=url, pool_size=5, max_overflow=5),
        auth=AuthSettings(service_token=SecretStr(TOKEN)),
        relay_enabled=False,
        **overrides,
    )


@pytest.fixture(scope="module")
def inventory_api(inventory_db: InventoryDb) -> Iterator[RunningApi]:
    """The real app over HTTP on the module's database, with the demo catalog seeded."""
    app = create_app(api_settings(inventory_db.url))
    with serving(app) as base_url:
        yield RunningApi(base_url, TOKEN, inventory_db)
