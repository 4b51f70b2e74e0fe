"""Fixtures for the payments integration tests: a migrated payments database per test module.

``payments_db`` is the module's fresh database (the ``pg`` fixture) migrated with the
service's own Alembic revisions; ``engine`` and ``uow`` work on it. Tests use fresh order
ids, so tests in a module share the database without seeing each other's payments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.payments.adapters.unit_of_work import PaymentsUnitOfWork
from services.payments.migrations import SCRIPT_LOCATION as MIGRATIONS
from services.runtime.db import session_factory, sqlalchemy_url
from services.runtime.migrations import upgrade


@pytest_asyncio.fixture(scope="module")
async def payments_db(pg: str) -> str:
    """The module's database, migrated to head; a SQLAlchemy (asyncpg) URL."""
    url = sqlalchemy_url(pg)
    await upgrade(MIGRATIONS, url)
    return url


@pytest_asyncio.fixture(scope="module")
async def engine(payments_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(payments_db, pool_size=20)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(scope="module")
async def uow(engine: AsyncEngine) -> Callable[[], PaymentsUnitOfWork]:
    """A factory of units of work on the module's database."""
    sessions = session_factory(engine)
    return lambda: PaymentsUnitOfWork(sessions)
