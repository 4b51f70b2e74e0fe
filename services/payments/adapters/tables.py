"""The payments database's tables: payments, tombstones, received webhooks, outbox and inbox.

The repository reads and writes them; the Alembic revisions in ``services/payments/migrations``
create them (autogenerate compares against ``metadata``). Constraints repeat the domain's
bounds, so a bug elsewhere cannot store a payment the domain would have refused.

- ``payments``: one row per order (``order_id`` unique), whatever its outcome.
- ``payment_tombstones``: orders compensated before any payment existed; a late
  authorization for one is refused.
- ``webhook_events``: every provider event id processed, so a redelivery has no second effect.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    String,
    Table,
    Text,
    Uuid,
    func,
)

from services.payments.domain import money
from services.payments.domain.payment import Status
from services.runtime.db import new_metadata
from services.runtime.tables import inbox_table, outbox_table

metadata = new_metadata()

_STATUS_CHECK = "status IN ({})".format(", ".join(f"'{status.value}'" for status in Status))

payments = Table(
    "payments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("order_id", Uuid, nullable=False, unique=True),
    Column("amount", BigInteger, nullable=False),  # minor units
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("provider_reference", String(255)),
    Column("failure_reason", String(100)),
    Column("decline_code", String(100)),
    Column("message", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(
        f"amount BETWEEN {money.MIN_AMOUNT} AND {money.MAX_AMOUNT}", name="amount_in_range"
    ),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_format"),
    CheckConstraint(_STATUS_CHECK, name="status_known"),
    # Webhooks whose intent carries no order id find their payment by the intent's id.
    Index("ix_payments_provider_reference", "provider_reference"),
)

payment_tombstones = Table(
    "payment_tombstones",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("event_id", String(255), primary_key=True),  # Stripe's evt_...: not a UUID
    Column("event_type", String(100), nullable=False),
    Column("order_id", Uuid),  # the order it was about, when it matched one
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
