"""The orders database's tables: orders, their lines, their timeline, and the outbox and inbox.

The repository reads and writes them; the Alembic revisions in ``services/orders/migrations``
create them (autogenerate compares against ``metadata``). Constraints repeat the domain's
bounds so a bug elsewhere cannot store an order the domain would have refused.
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
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.db import new_metadata
from services.runtime.tables import inbox_table, outbox_table

metadata = new_metadata()

PHASES = ("Pending", "StockReserved", "PaymentAuthorized", "Completed", "Cancelled")
_PHASE_CHECK = "phase IN ({})".format(", ".join(f"'{phase}'" for phase in PHASES))

orders = Table(
    "orders",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),  # minor units; the sum of the lines
    Column("payment_method", String(255), nullable=False),
    Column("phase", String(32), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),  # why it was cancelled
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("amount BETWEEN 0 AND 1000000000000", name="amount_in_range"),
    CheckConstraint(_PHASE_CHECK, name="phase_known"),
    # Keyset paging of GET /orders, newest first, unfiltered or by phase or by customer.
    Index("ix_orders_created_at_id", "created_at", "id"),
    Index("ix_orders_phase_created_at_id", "phase", "created_at", "id"),
    Index("ix_orders_customer_id_created_at_id", "customer_id", "created_at", "id"),
)

order_items = Table(
    "order_items",
    metadata,
    Column("order_id", Uuid, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("line_no", SmallInteger, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),  # minor units, at order time
    CheckConstraint("quantity BETWEEN 1 AND 10000", name="quantity_in_range"),
    CheckConstraint("unit_price BETWEEN 0 AND 1000000000000", name="unit_price_in_range"),
    UniqueConstraint("order_id", "sku"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),  # timeline order
    Column("order_id", Uuid, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("step", String(40), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("phase", String(32), nullable=False),  # the order's phase after this entry
    Column("reason", Text, nullable=False, server_default=""),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("event_id", Uuid),  # the Kafka event a saga fact came from; NULL for commands
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_order_events_order_id_id", "order_id", "id"),  # one order's timeline, in order
    # A fact is recorded once per order even if the inbox were bypassed.
    UniqueConstraint("order_id", "event_id"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
