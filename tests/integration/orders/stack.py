"""The real inventory and orders services, side by side, for tests and the bench.

``inventory_database`` makes a fresh inventory database, migrated with inventory's own
revisions and seeded with its demo catalog (or the products given); ``inventory_app`` and
``orders_app`` build the two real apps (``bootstrap.create_app`` of each) for
``servers.serve_in_thread``. Orders prices from inventory over real HTTP. Used by
test_api_with_inventory.py and tests/bench/bench_post_orders.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg
from fastapi import FastAPI

from services.inventory import bootstrap as inventory_bootstrap
from services.inventory.adapters import catalog_file
from services.inventory.adapters.unit_of_work import InventoryUnitOfWork
from services.inventory.domain.stock import Product
from services.inventory.migrations import SCRIPT_LOCATION as INVENTORY_MIGRATIONS
from services.inventory.service_layer import handlers as inventory_handlers
from services.inventory.settings import InventorySettings, SweeperSettings
from services.orders import bootstrap as orders_bootstrap
from services.orders.migrations import SCRIPT_LOCATION as ORDERS_MIGRATIONS
from services.orders.settings import CatalogSettings, OrdersSettings, WorkerSettings
from services.runtime import db, migrations
from services.runtime.settings import DatabaseSettings, KafkaSettings, RedisSettings


async def seed_inventory(url: str, products: Sequence[Product]) -> None:
    engine = db.create_engine(DatabaseSettings(url=url))
    try:
        uow = InventoryUnitOfWork(db.session_factory(engine))
        await inventory_handlers.seed(uow, catalog=products, reset_stock=True)
    finally:
        await engine.dispose()


@asynccontextmanager
async def fresh_database(admin_dsn: str, prefix: str) -> AsyncIterator[str]:
    """A new empty database named ``<prefix>_<hex>``, dropped on exit; a SQLAlchemy URL.

    Each statement gets a connection of its own: one held open meanwhile would not survive a
    Postgres restart (the chaos harness kills it), and the drop would fail with it.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    await _admin(admin_dsn, f'CREATE DATABASE "{name}"')
    try:
        yield db.sqlalchemy_url(admin_dsn.rsplit("/", 1)[0] + f"/{name}")
    finally:
        await _admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(admin_dsn: str, statement: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


@asynccontextmanager
async def inventory_database(
    admin_dsn: str, products: Sequence[Product] | None = None
) -> AsyncIterator[str]:
    async with fresh_database(admin_dsn, "t_orders_inventory") as url:
        await migrations.upgrade(INVENTORY_MIGRATIONS, url)
        await seed_inventory(url, products or catalog_file.load(catalog_file.DEFAULT_CATALOG))
        yield url


def inventory_app(url: str, *, kafka: str, relay: bool = False) -> FastAPI:
    settings = InventorySettings(
        db=DatabaseSettings(url=url),
        kafka=KafkaSettings(bootstrap_servers=kafka),
        relay_enabled=relay,
        sweeper=SweeperSettings(enabled=False),
    )
    return inventory_bootstrap.create_app(settings)


async def migrate_orders(url: str) -> None:
    await migrations.upgrade(ORDERS_MIGRATIONS, url)


def orders_settings(
    url: str,
    *,
    inventory_url: str,
    redis: str,
    kafka: str,
    relay: bool = False,
    breaker_threshold: int = 5,
) -> OrdersSettings:
    return OrdersSettings(
        service_name=f"orders-test-{uuid.uuid4().hex[:8]}",  # its own Redis namespace
        db=DatabaseSettings(url=url),
        redis=RedisSettings(url=redis),
        kafka=KafkaSettings(bootstrap_servers=kafka),
        workers=WorkerSettings(relay=relay, consumer=False),
        catalog=CatalogSettings(
            base_url=inventory_url,
            timeout=timedelta(seconds=2),
            backoff_initial=timedelta(milliseconds=20),
            backoff_max=timedelta(milliseconds=100),
            breaker_failure_threshold=breaker_threshold,
        ),
    )


def orders_app(settings: OrdersSettings) -> FastAPI:
    return orders_bootstrap.create_app(settings)
