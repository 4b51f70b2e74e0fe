"""The hand-written migrations build exactly the tables the code uses, and can be undone.

Alembic's autogenerate comparison between the migrated database and ``adapters.tables``
must find nothing to do; downgrading to base and upgrading again must work, so a bad
release can be rolled back.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from services.inventory.adapters.tables import metadata
from services.inventory.migrations import SCRIPT_LOCATION
from services.runtime.migrations import alembic_config, upgrade
from tests.integration.inventory.conftest import InventoryDb


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_the_migrated_schema_matches_the_tables_the_code_uses(
    inventory_db: InventoryDb,
) -> None:
    async with inventory_db.engine.connect() as conn:
        assert await conn.run_sync(_differences) == []


async def test_downgrade_to_base_and_upgrade_again(inventory_db: InventoryDb) -> None:
    config = alembic_config(SCRIPT_LOCATION, inventory_db.url)
    await asyncio.to_thread(command.downgrade, config, "base")
    async with inventory_db.engine.connect() as conn:
        left = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert set(left) <= {"alembic_version"}
    await upgrade(SCRIPT_LOCATION, inventory_db.url)
    async with inventory_db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert await conn.run_sync(_differences) == []
    assert set(tables) >= {"products", "reservations", "reservation_lines", "outbox", "inbox"}
