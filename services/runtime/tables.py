"""The outbox and inbox tables every service carries in its own database.

The unit of work inserts outbox rows in the transaction that changes state; the relay
(``services.runtime.relay``) publishes them to Kafka. Consumers insert an inbox row in the
transaction of their effect, so a redelivered event id is recognised and skipped. Each
service's metadata module calls ``outbox_table`` and ``inbox_table`` once; its Alembic
migrations create them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        # Insertion order; the relay publishes in it, so one order's events stay in sequence.
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("topic", String(255), nullable=False),
        Column("key", String(255), nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("value", LargeBinary, nullable=False),  # the encoded envelope, as sent
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column(
            "next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()
        ),
        Column("last_error", Text),
        # The relay's claim query reads only unpublished rows that are due.
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("published_at IS NULL"),
        ),
        Index(
            "ix_outbox_published_at",
            "published_at",
            postgresql_where=text("published_at IS NOT NULL"),
        ),
    )


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer_group", String(255), nullable=False),
        Column("event_id", Uuid, nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer_group", "event_id"),
    )
