"""The payments unit of work: the runtime's outbox-writing unit of work plus our repositories.

The service layer's handlers use one per request or webhook:
``async with uow: await uow.payments.lock(order_id); ...; await uow.commit()``. Bootstrap
builds the factory; tests build it on their own database.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.payments.adapters import tables
from services.payments.adapters.repository import PaymentRepository, WebhookLog
from services.runtime.uow import UnitOfWork


class PaymentsUnitOfWork(UnitOfWork):
    payments: PaymentRepository
    webhooks: WebhookLog

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessions, outbox=tables.outbox, inbox=tables.inbox)

    def _start(self, session: AsyncSession) -> None:
        self.payments = PaymentRepository(session)
        self.webhooks = WebhookLog(session)
