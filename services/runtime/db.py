"""The service's database: one async SQLAlchemy engine on asyncpg, and its session factory.

Built once at start-up by each service's bootstrap and handed to the unit of work; nothing else
opens connections. ``asyncpg_dsn`` and ``sqlalchemy_url`` convert between the two URL
spellings, since asyncpg (tests, admin tasks) and SQLAlchemy want different schemes.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from services.runtime.settings import DatabaseSettings

# Stable constraint names, so Alembic autogenerate and hand-written migrations agree.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """Each service's tables live in a MetaData of its own (one database per service)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` or ``postgres://`` → ``postgresql+asyncpg://``; others unchanged."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(settings.url),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=True,
        connect_args={"server_settings": {"statement_timeout": str(settings.statement_timeout_ms)}},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: handlers read what they just wrote after commit() without a
    # second round trip.
    return async_sessionmaker(engine, expire_on_commit=False)
