"""Loads and stores payments, tombstones and received webhook ids, inside a unit of work.

The service layer is its only user (through ``PaymentsUnitOfWork``). Everything is written with
Core statements on the unit of work's session, so it commits with the outbox rows.

``lock`` serialises everything done to one order's payment: authorizing, refunding and
applying a webhook each take the order's transaction-scoped advisory lock first. An advisory
lock (rather than ``SELECT ... FOR UPDATE``) also covers the order whose payment row does not
exist yet, which is exactly the race between a late authorization and a compensation.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments.adapters import tables
from services.payments.domain import errors
from services.payments.domain.payment import Payment, Status

LOCK_WAIT = "5s"  # a request waiting longer for the same order's lock answers 503


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock(self, order_id: uuid.UUID) -> None:
        """Hold the order's lock until the transaction ends; ``PaymentBusy`` after waiting."""
        await self._session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
        try:
            await self._session.execute(
                select(func.pg_advisory_xact_lock(func.hashtextextended(f"payment:{order_id}", 0)))
            )
        except DBAPIError as e:
            if getattr(e.orig, "sqlstate", None) == "55P03":  # lock_not_available
                raise errors.PaymentBusy(order_id) from e
            raise

    async def get(self, order_id: uuid.UUID) -> Payment | None:
        row = (
            await self._session.execute(
                select(tables.payments).where(tables.payments.c.order_id == order_id)
            )
        ).first()
        return None if row is None else _payment(row)

    async def order_of(self, reference: str) -> uuid.UUID | None:
        """The order whose payment has the provider reference ``reference``."""
        found = await self._session.scalar(
            select(tables.payments.c.order_id)
            .where(tables.payments.c.provider_reference == reference)
            .limit(1)
        )
        return found

    async def add(self, payment: Payment) -> None:
        await self._session.execute(insert(tables.payments).values(**_columns(payment)))

    async def save(self, payment: Payment) -> None:
        columns = _columns(payment)
        del columns["id"], columns["order_id"], columns["created_at"]
        await self._session.execute(
            update(tables.payments).where(tables.payments.c.id == payment.id).values(**columns)
        )

    async def is_tombstoned(self, order_id: uuid.UUID) -> bool:
        found = await self._session.scalar(
            select(tables.payment_tombstones.c.order_id).where(
                tables.payment_tombstones.c.order_id == order_id
            )
        )
        return found is not None

    async def add_tombstone(self, order_id: uuid.UUID) -> None:
        await self._session.execute(
            pg_insert(tables.payment_tombstones).values(order_id=order_id).on_conflict_do_nothing()
        )


class WebhookLog:
    """The provider event ids already handled: the webhook's inbox."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, event_id: str, event_type: str) -> bool:
        """Remember ``event_id``; False if it was seen before (a redelivery).

        A concurrent delivery of the same id waits on the primary key until the first one's
        transaction ends, then sees it: two deliveries never both have an effect.
        """
        result = await self._session.execute(
            pg_insert(tables.webhook_events)
            .values(event_id=event_id, event_type=event_type)
            .on_conflict_do_nothing()
            .returning(tables.webhook_events.c.event_id)
        )
        return result.first() is not None

    async def attach(self, event_id: str, order_id: uuid.UUID) -> None:
        await self._session.execute(
            update(tables.webhook_events)
            .where(tables.webhook_events.c.event_id == event_id)
            .values(order_id=order_id)
        )


def _columns(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "order_id": payment.order_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status.value,
        "provider": payment.provider,
        "provider_reference": payment.provider_reference,
        "failure_reason": payment.failure_reason,
        "decline_code": payment.decline_code,
        "message": payment.message,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
    }


def _payment(row: Row[Any]) -> Payment:
    return Payment(
        id=row.id,
        order_id=row.order_id,
        amount=row.amount,
        currency=row.currency,
        provider=row.provider,
        created_at=row.created_at,
        updated_at=row.updated_at,
        status=Status(row.status),
        provider_reference=row.provider_reference,
        failure_reason=row.failure_reason,
        decline_code=row.decline_code,
        message=row.message,
    )
