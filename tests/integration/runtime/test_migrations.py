"""`migrate` as the chart runs it: one init container per pod, so several at once."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from infra.local.endpoints import Endpoints
from services.orders.migrations import SCRIPT_LOCATION
from services.runtime import migrations

pytestmark = pytest.mark.platform


async def test_replicas_migrating_at_once_take_turns_and_all_succeed(platform: Endpoints) -> None:
    """Without the advisory lock, Alembic runs racing on a new database collide."""
    name = f"t_migrate_together_{uuid.uuid4().hex[:8]}"
    url = platform.postgres_dsn.rsplit("/", 1)[0] + f"/{name}"
    try:
        await asyncio.gather(*(migrations.upgrade(SCRIPT_LOCATION, url) for _ in range(4)))
        connection = await asyncpg.connect(url)
        try:
            heads = await connection.fetch("SELECT version_num FROM alembic_version")
            tables = await connection.fetchval(
                "SELECT count(*) FROM pg_tables WHERE tablename = 'orders'"
            )
        finally:
            await connection.close()
        assert len(heads) == 1
        assert tables == 1
    finally:
        admin = await asyncpg.connect(platform.postgres_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def test_migrate_waits_for_a_server_that_is_not_there_yet_then_says_why() -> None:
    """A closed port stands for a Postgres pod still starting: retried, then the real error."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(OSError):
        await migrations.ensure_database(
            "postgresql+asyncpg://u:p@127.0.0.1:9/db", wait_seconds=1.5
        )
    assert loop.time() - started >= 1.5
