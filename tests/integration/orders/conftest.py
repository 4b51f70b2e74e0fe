"""Fixtures for the orders integration tests: a migrated orders database per test module.

``orders_db`` is the module's fresh database (the ``pg`` fixture) migrated with the service's
own Alembic revisions; ``engine`` and ``uow`` work on it. Tests use unique ids, so tests in
a module share the database without seeing each other's orders.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.orders.adapters.unit_of_work import OrdersUnitOfWork
from services.orders.migrations import SCRIPT_LOCATION
from services.runtime.db import session_factory, sqlalchemy_url
from services.runtime.migrations import upgrade

MIGRATIONS = SCRIPT_LOCATION


@pytest_asyncio.fixture(scope="module")
async def orders_db(pg: str) -> str:
    """The module's database, migrated to head; a SQLAlchemy (asyncpg) URL."""
    url = sqlalchemy_url(pg)
    await upgrade(MIGRATIONS, url)
    return url


@pytest_asyncio.fixture(scope="module")
async def engine(orders_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(orders_db, pool_size=20)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(scope="module")
async def uow(engine: AsyncEngine) -> Callable[[], OrdersUnitOfWork]:
    """A factory of units of work on the module's database."""
    sessions = session_factory(engine)
    return lambda: OrdersUnitOfWork(sessions)
