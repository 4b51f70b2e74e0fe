"""What the payments integration tests share: test providers of our own, and table readers.

``FlakyProvider`` wraps the simulated provider (our code, not a mock of anything external)
and fails its first calls transiently, or all of them, to exercise retries and the breaker.
``events_for`` reads an order's events back from the outbox, decoded with the contracts.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.payments.adapters import tables
from services.payments.adapters.simulated import SimulatedProvider
from services.payments.domain import outcomes
from services.runtime import events as contracts
from services.runtime.resilience import RetryPolicy, TransientError


class FlakyProvider(SimulatedProvider):
    """Fails the first ``failures`` calls of every operation with ``TransientError``."""

    def __init__(self, failures: int = 10**9, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failures = failures
        self.attempts = 0

    async def authorize(self, **kwargs: Any) -> outcomes.AuthorizationOutcome:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise TransientError("provider down (test)")
        return await super().authorize(**kwargs)


def fast_retries(attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(
        attempts=attempts, initial=timedelta(milliseconds=1), maximum=timedelta(milliseconds=5)
    )


async def events_for(engine: AsyncEngine, order_id: uuid.UUID) -> list[contracts.Event]:
    """The order's events in the outbox, oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(tables.outbox.c.value)
            .where(tables.outbox.c.key == str(order_id))
            .order_by(tables.outbox.c.id)
        )
        return [contracts.decode(row.value) for row in rows]


async def payment_row(engine: AsyncEngine, order_id: uuid.UUID) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                select(tables.payments).where(tables.payments.c.order_id == order_id)
            )
        ).first()
