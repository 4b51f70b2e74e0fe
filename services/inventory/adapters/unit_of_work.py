"""Inventory's unit of work: the runtime's, with the product and reservation repositories.

The service layer's handlers take one (``bootstrap`` builds a factory, one per request, since
a unit of work holds one session at a time); the outbox and inbox are inventory's own tables.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.inventory.adapters import tables
from services.inventory.adapters.repository import ProductRepository, ReservationRepository
from services.runtime.uow import UnitOfWork


class InventoryUnitOfWork(UnitOfWork):
    products: ProductRepository
    reservations: ReservationRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessions, outbox=tables.outbox, inbox=tables.inbox)

    def _start(self, session: AsyncSession) -> None:
        self.products = ProductRepository(session)
        self.reservations = ReservationRepository(session)
