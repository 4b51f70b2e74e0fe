"""Inventory's tables: products with their stock counts, reservations and their lines.

Plus the runtime's outbox and inbox. The migrations in ``services/inventory/migrations``
create exactly these (a test compares them); the repositories read and write them.

Stock is three non-negative counts per product (CHECK constraints, the last guard against a
bug that would oversell); ``available + reserved + committed`` is the product's total.
A reservation row exists once per order (its primary key is the order id): that uniqueness
is what makes reserve and release idempotent under concurrent requests.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.db import new_metadata
from services.runtime.tables import inbox_table, outbox_table

metadata = new_metadata()

STATUSES = ("reserved", "rejected", "committed", "released", "expired")

products = Table(
    "products",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("available", Integer, nullable=False),
    Column("reserved", Integer, nullable=False, server_default=text("0")),
    Column("committed", Integer, nullable=False, server_default=text("0")),
    Column("low_stock_threshold", Integer, nullable=False, server_default=text("0")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint("available >= 0", name="available_not_negative"),
    CheckConstraint("reserved >= 0", name="reserved_not_negative"),
    CheckConstraint("committed >= 0", name="committed_not_negative"),
    CheckConstraint("low_stock_threshold >= 0", name="threshold_not_negative"),
    CheckConstraint("price_minor >= 0", name="price_not_negative"),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("reservation_id", Uuid, nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("shortages", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("reason", Text, nullable=False, server_default=text("''")),
    Column("correlation_id", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(f"status IN {STATUSES!r}", name="status_known"),
    # The sweeper's query: reservations still holding stock, by expiry.
    Index(
        "ix_reservations_due",
        "expires_at",
        postgresql_where=text("status = 'reserved'"),
    ),
)

# The lines of a request, also when it was rejected (so a repeat can be compared with it):
# no foreign key to products, since a rejected line may name an unknown SKU.
reservation_lines = Table(
    "reservation_lines",
    metadata,
    Column(
        "order_id",
        Uuid,
        ForeignKey("reservations.order_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    PrimaryKeyConstraint("order_id", "sku"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
