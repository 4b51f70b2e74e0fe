"""Alembic, shared by the three services: their ``env.py`` bodies and programmatic upgrades.

Each service keeps its own revisions in ``services/<name>/migrations/versions`` and its
``env.py`` is two lines that call ``run_env(metadata)``. ``upgrade`` is what the services'
``migrate`` command and the tests call; nothing outside tests uses ``create_all``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from pathlib import Path

import asyncpg
from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from services.runtime.db import asyncpg_dsn, sqlalchemy_url

URL_OPTION = "sqlalchemy.url"


def alembic_config(script_location: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option(URL_OPTION, sqlalchemy_url(url).replace("%", "%%"))
    return config


# Any fixed number will do: every ``migrate`` of one database takes this session lock.
MIGRATION_LOCK = 0x6B736D69

logger = logging.getLogger(__name__)


def add_migrate_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Every service's ``migrate`` subcommand, as the chart's init containers call it."""
    migrate = commands.add_parser(
        "migrate", help="create the database if missing; migrate it to head"
    )
    migrate.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait this long for a Postgres that is still starting (default: %(default)s)",
    )


async def upgrade(
    script_location: Path, url: str, revision: str = "head", *, wait_seconds: float = 0
) -> None:
    """Create the database if missing, then migrate it to ``revision``.

    Replicas that start together (an init container per pod) take turns: a Postgres advisory
    lock on the database serialises them, so the later ones find the schema at head and do
    nothing, where two Alembic runs at once would both try to create the same tables.
    ``wait_seconds`` is how long to wait for a server that is still starting.
    """
    await ensure_database(url, wait_seconds=wait_seconds)
    lock = await asyncpg.connect(_without_query(asyncpg_dsn(sqlalchemy_url(url))))
    try:
        await lock.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        # Alembic's async env runs its own event loop, so it gets a thread of its own.
        await asyncio.to_thread(command.upgrade, alembic_config(script_location, url), revision)
    finally:
        await lock.close()  # ending the session releases the lock


async def ensure_database(url: str, *, wait_seconds: float = 0) -> None:
    """One database per service on the one server: create it on first start."""
    dsn = _without_query(asyncpg_dsn(sqlalchemy_url(url)))
    base, _, name = dsn.rpartition("/")
    admin = await _connect(f"{base}/postgres", wait_seconds)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            quoted = name.replace('"', '""')
            try:
                await admin.execute(f'CREATE DATABASE "{quoted}"')
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # another replica created it first (the second error: at the same instant)
    finally:
        await admin.close()


async def _connect(dsn: str, wait_seconds: float) -> asyncpg.Connection:
    """Connect, retrying for ``wait_seconds`` while the server refuses or is still starting."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return await asyncpg.connect(dsn)
        except (OSError, asyncpg.CannotConnectNowError) as e:
            if time.monotonic() >= deadline:
                raise
            logger.warning("waiting for Postgres (%s: %s)", type(e).__name__, e)
            await asyncio.sleep(1)


def _without_query(dsn: str) -> str:
    return dsn.split("?", 1)[0]


def run_env(metadata: MetaData) -> None:
    """The whole of a service's migrations/env.py: offline SQL or online async migrations."""
    url = context.config.get_main_option(URL_OPTION)
    if url is None:
        raise RuntimeError(f"alembic config has no {URL_OPTION}; use services.runtime.migrations")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, metadata))


async def _run_online(url: str, metadata: MetaData) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate, metadata)
    finally:
        await engine.dispose()


def _migrate(connection: Connection, metadata: MetaData) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
