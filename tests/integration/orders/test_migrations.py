"""The Alembic revisions build exactly the tables the code declares, and can be undone.

Autogenerate compares the migrated database with ``adapters.tables.metadata``: any difference
means a table change without its revision (or the reverse).
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from services.orders.adapters.tables import metadata
from services.runtime.migrations import alembic_config, upgrade
from tests.integration.orders.conftest import MIGRATIONS


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_the_migrated_database_matches_the_metadata(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_migrations_downgrade_to_nothing_and_back(
    orders_db: str, engine: AsyncEngine
) -> None:
    config = alembic_config(MIGRATIONS, orders_db)
    await asyncio.to_thread(command.downgrade, config, "base")
    async with engine.connect() as conn:
        left = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert left == ["alembic_version"]
    await upgrade(MIGRATIONS, orders_db)
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
