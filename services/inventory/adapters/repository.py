"""Repositories: products and reservations in and out of Postgres, as domain objects.

Used only through ``InventoryUnitOfWork`` (``adapters.unit_of_work``), on its session and in its
transaction. Two methods carry the concurrency design (see ``service_layer.handlers``):
``ProductRepository.lock`` takes row locks on products in SKU order, and
``ReservationRepository.add`` turns a concurrent insert for the same order into
``DuplicateReservation``, which the service layer answers by retrying.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.inventory.adapters.tables import products, reservation_lines, reservations
from services.inventory.domain.reservation import Reservation, Status
from services.inventory.domain.rules import Line, Shortage, ShortageReason
from services.inventory.domain.stock import Price, Product


class DuplicateReservation(Exception):
    """Another transaction stored a reservation for this order first; retry to read it."""


class ProductRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, sku: str) -> Product | None:
        row = (await self._session.execute(select(products).where(products.c.sku == sku))).first()
        return None if row is None else _product(row)

    async def page(self, *, after: str | None, limit: int) -> list[Product]:
        """Up to ``limit`` products in SKU order, starting after the SKU ``after``."""
        query = select(products).order_by(products.c.sku).limit(limit)
        if after is not None:
            query = query.where(products.c.sku > after)
        return [_product(row) for row in await self._session.execute(query)]

    async def lock(self, skus: Iterable[str]) -> dict[str, Product]:
        """The known products among ``skus``, each row locked until the transaction ends.

        Locks are taken in SKU order (Postgres sorts before it locks), so two transactions
        wanting overlapping SKUs queue on the first SKU they share instead of deadlocking.
        """
        wanted = sorted(set(skus))
        if not wanted:
            return {}
        query = (
            select(products)
            .where(products.c.sku.in_(wanted))
            .order_by(products.c.sku)
            .with_for_update()
        )
        return {row.sku: _product(row) for row in await self._session.execute(query)}

    async def save_stock(self, changed: Iterable[Product]) -> None:
        rows = [
            {
                "b_sku": p.sku,
                "b_available": p.available,
                "b_reserved": p.reserved,
                "b_committed": p.committed,
            }
            for p in changed
        ]
        if not rows:
            return
        await self._session.execute(
            update(products)
            .where(products.c.sku == bindparam("b_sku"))
            .values(
                available=bindparam("b_available"),
                reserved=bindparam("b_reserved"),
                committed=bindparam("b_committed"),
                updated_at=func.now(),
            )
            .execution_options(synchronize_session=False),
            rows,
        )

    async def upsert(self, catalog: Sequence[Product], *, reset_stock: bool) -> int:
        """Insert new products; refresh name, price and threshold of known ones.

        A known product keeps its stock (orders hold it) unless ``reset_stock``: then its
        on-hand stock (available + reserved) is brought back to the catalog's, without
        touching what is reserved. Returns how many products the catalog had.
        """
        if not catalog:
            return 0
        statement = pg_insert(products).values(
            [
                {
                    "sku": p.sku,
                    "name": p.name,
                    "price_minor": p.price.value,
                    "currency": p.price.currency,
                    "available": p.available,
                    "low_stock_threshold": p.low_stock_threshold,
                }
                for p in catalog
            ]
        )
        refreshed: dict[str, Any] = {
            "name": statement.excluded.name,
            "price_minor": statement.excluded.price_minor,
            "currency": statement.excluded.currency,
            "low_stock_threshold": statement.excluded.low_stock_threshold,
            "updated_at": func.now(),
        }
        if reset_stock:
            refreshed["available"] = func.greatest(
                statement.excluded.available - products.c.reserved, 0
            )
        await self._session.execute(
            statement.on_conflict_do_update(index_elements=[products.c.sku], set_=refreshed)
        )
        return len(catalog)


class ReservationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, order_id: uuid.UUID, *, lock: bool = False) -> Reservation | None:
        """The order's reservation; with ``lock``, its row stays locked for this transaction."""
        query = select(reservations).where(reservations.c.order_id == order_id)
        if lock:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        if row is None:
            return None
        lines = await self._lines([order_id])
        return _reservation(row, lines.get(order_id, ()))

    async def due(self, now: datetime, *, limit: int) -> list[Reservation]:
        """Up to ``limit`` reservations past their expiry, locked; rows others hold are skipped."""
        query = (
            select(reservations)
            .where(reservations.c.status == Status.RESERVED, reservations.c.expires_at <= now)
            .order_by(reservations.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = list(await self._session.execute(query))
        lines = await self._lines([row.order_id for row in rows])
        return [_reservation(row, lines.get(row.order_id, ())) for row in rows]

    async def add(self, reservation: Reservation) -> None:
        """Insert a new reservation now, so a concurrent one for the order fails here."""
        try:
            await self._session.execute(insert(reservations).values(**_columns(reservation)))
        except IntegrityError as e:
            raise DuplicateReservation(str(reservation.order_id)) from e
        if reservation.lines:
            await self._session.execute(
                insert(reservation_lines),
                [
                    {"order_id": reservation.order_id, "sku": line.sku, "quantity": line.quantity}
                    for line in reservation.lines
                ],
            )

    async def update(self, reservation: Reservation) -> None:
        """Store a state change: status, reason and when (the lines never change)."""
        await self._session.execute(
            update(reservations)
            .where(reservations.c.order_id == reservation.order_id)
            .values(
                status=reservation.status.value,
                reason=reservation.reason,
                updated_at=reservation.updated_at,
            )
        )

    async def _lines(self, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[Line, ...]]:
        if not order_ids:
            return {}
        rows = await self._session.execute(
            select(reservation_lines)
            .where(reservation_lines.c.order_id.in_(order_ids))
            .order_by(reservation_lines.c.order_id, reservation_lines.c.sku)
        )
        found: dict[uuid.UUID, list[Line]] = {}
        for row in rows:
            found.setdefault(row.order_id, []).append(Line(row.sku, row.quantity))
        return {order_id: tuple(lines) for order_id, lines in found.items()}


def _product(row: Row[Any]) -> Product:
    return Product(
        sku=row.sku,
        name=row.name,
        price=Price(row.price_minor, row.currency),
        available=row.available,
        low_stock_threshold=row.low_stock_threshold,
        reserved=row.reserved,
        committed=row.committed,
    )


def _reservation(row: Row[Any], lines: tuple[Line, ...]) -> Reservation:
    return Reservation(
        order_id=row.order_id,
        reservation_id=row.reservation_id,
        status=Status(row.status),
        lines=lines,
        created_at=row.created_at,
        updated_at=row.updated_at,
        correlation_id=row.correlation_id,
        expires_at=row.expires_at,
        shortages=tuple(
            Shortage(s["sku"], s["requested"], s["available"], ShortageReason(s["reason"]))
            for s in row.shortages
        ),
        reason=row.reason,
    )


def _columns(reservation: Reservation) -> dict[str, Any]:
    return {
        "order_id": reservation.order_id,
        "reservation_id": reservation.reservation_id,
        "status": reservation.status.value,
        "expires_at": reservation.expires_at,
        "shortages": [
            {"sku": s.sku, "requested": s.requested, "available": s.available, "reason": s.reason}
            for s in reservation.shortages
        ],
        "reason": reservation.reason,
        "correlation_id": reservation.correlation_id,
        "created_at": reservation.created_at,
        "updated_at": reservation.updated_at,
    }
