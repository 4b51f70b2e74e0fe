"""The orders unit of work: the runtime's outbox-writing unit of work plus the order repository.

The service layer's handlers and the saga-event consumer use one per request or event:
``async with uow: order = await uow.orders.get(...); ...; await uow.commit()``. Bootstrap
builds the factory; tests build it on their own database.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.orders.adapters import tables
from services.orders.adapters.repository import OrderRepository
from services.runtime.uow import UnitOfWork


class OrdersUnitOfWork(UnitOfWork):
    orders: OrderRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessions, outbox=tables.outbox, inbox=tables.inbox)

    def _start(self, session: AsyncSession) -> None:
        self.orders = OrderRepository(session)
