"""Alembic, shared by the three services: their ``env.py`` bodies and programmatic upgrades.

Each service keeps its own revisions in ``services/<name>/migrations/versions`` and its
``env.py`` is two lines that call ``run_env(metadata)``. ``upgrade`` is what the services'
``migrate`` command and the tests call; nothing outside tests uses ``create_all``.
"""

from __future__ import annotations

import asyncio
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


async def upgrade(script_location: Path, url: str, revision: str = "head") -> None:
    """Create the database if missing, then migrate it to ``revision``."""
    await ensure_database(url)
    # Alembic's async env runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(command.upgrade, alembic_config(script_location, url), revision)


async def ensure_database(url: str) -> None:
    """One database per service on the one server: create it on first start."""
    dsn = asyncpg_dsn(sqlalchemy_url(url))
    base, _, name = dsn.rpartition("/")
    name = name.split("?", 1)[0]
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            quoted = name.replace('"', '""')
            try:
                await admin.execute(f'CREATE DATABASE "{quoted}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # another replica created it first
    finally:
        await admin.close()


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
