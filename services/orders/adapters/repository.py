"""Loads and stores Order aggregates in the orders database, inside a unit of work's session.

The service layer is its only user (through ``OrdersUnitOfWork.orders``). Orders are written
with Core statements on the session, so they share the unit of work's transaction with the
outbox rows. Timeline entries are append-only: ``save`` inserts the entries added since the
order was loaded and updates the order row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.adapters import tables
from services.orders.domain import facts, model

Position = tuple[datetime, uuid.UUID]  # (created_at, id): a place in the newest-first listing


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._stored_entries: dict[uuid.UUID, int] = {}

    async def add(self, order: model.Order) -> None:
        await self._session.execute(
            insert(tables.orders).values(
                id=order.id,
                customer_id=order.customer_id,
                currency=order.currency,
                amount=order.amount,
                payment_method=order.payment_method,
                phase=order.phase.value,
                reason=order.reason,
                created_at=order.created_at,
                updated_at=order.updated_at,
            )
        )
        await self._session.execute(
            insert(tables.order_items),
            [
                {
                    "order_id": order.id,
                    "line_no": number,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                }
                for number, line in enumerate(order.lines, start=1)
            ],
        )
        self._stored_entries[order.id] = 0
        await self._insert_new_entries(order)

    async def get(self, order_id: uuid.UUID, *, for_update: bool = False) -> model.Order | None:
        """The order with its lines and timeline; ``for_update`` locks it until commit."""
        query = select(tables.orders).where(tables.orders.c.id == order_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        if row is None:
            return None
        lines = await self._lines([order_id])
        entries = (
            await self._session.execute(
                select(tables.order_events)
                .where(tables.order_events.c.order_id == order_id)
                .order_by(tables.order_events.c.id)
            )
        ).all()
        order = _order(row, lines.get(order_id, ()), [_entry(entry) for entry in entries])
        self._stored_entries[order.id] = len(order.timeline)
        return order

    async def save(self, order: model.Order) -> None:
        """Store the phase, reason and new timeline entries of an order loaded here."""
        if order.id not in self._stored_entries:
            raise RuntimeError(f"order {order.id} was not loaded through this repository")
        await self._session.execute(
            update(tables.orders)
            .where(tables.orders.c.id == order.id)
            .values(phase=order.phase.value, reason=order.reason, updated_at=order.updated_at)
        )
        await self._insert_new_entries(order)

    async def page(
        self,
        *,
        limit: int,
        after: Position | None = None,
        phase: model.Phase | None = None,
        customer_id: str | None = None,
    ) -> list[model.Order]:
        """Orders newest first, strictly after ``after``; their timelines are not loaded."""
        o = tables.orders
        query = select(o).order_by(o.c.created_at.desc(), o.c.id.desc()).limit(limit)
        if after is not None:
            query = query.where(tuple_(o.c.created_at, o.c.id) < tuple_(*after))
        if phase is not None:
            query = query.where(o.c.phase == phase.value)
        if customer_id is not None:
            query = query.where(o.c.customer_id == customer_id)
        rows = (await self._session.execute(query)).all()
        lines = await self._lines([row.id for row in rows])
        return [_order(row, lines.get(row.id, ()), []) for row in rows]

    async def _lines(self, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[model.Line]]:
        if not order_ids:
            return {}
        i = tables.order_items
        rows = await self._session.execute(
            select(i).where(i.c.order_id.in_(order_ids)).order_by(i.c.order_id, i.c.line_no)
        )
        lines: dict[uuid.UUID, list[model.Line]] = {}
        for row in rows:
            lines.setdefault(row.order_id, []).append(
                model.Line(row.sku, row.quantity, row.unit_price)
            )
        return lines

    async def _insert_new_entries(self, order: model.Order) -> None:
        new = order.timeline[self._stored_entries[order.id] :]
        if not new:
            return
        await self._session.execute(
            insert(tables.order_events),
            [
                {
                    "order_id": order.id,
                    "step": entry.step.value,
                    "occurred_at": entry.at,
                    "phase": entry.phase.value,
                    "reason": entry.reason,
                    "details": _details(entry),
                    "event_id": entry.event_id,
                }
                for entry in new
            ],
        )
        self._stored_entries[order.id] = len(order.timeline)


def _order(
    row: Row[Any], lines: Sequence[model.Line], timeline: list[model.TimelineEntry]
) -> model.Order:
    return model.Order(
        id=row.id,
        customer_id=row.customer_id,
        lines=tuple(lines),
        currency=row.currency,
        payment_method=row.payment_method,
        created_at=row.created_at,
        updated_at=row.updated_at,
        phase=model.Phase(row.phase),
        reason=row.reason,
        timeline=timeline,
    )


def _details(entry: model.TimelineEntry) -> dict[str, Any]:
    if not entry.rejected:
        return {}
    return {
        "rejected": [
            {
                "sku": line.sku,
                "requested": line.requested,
                "available": line.available,
                "reason": line.reason,
            }
            for line in entry.rejected
        ]
    }


def _entry(row: Row[Any]) -> model.TimelineEntry:
    rejected = tuple(
        facts.RejectedLine(
            sku=line["sku"],
            requested=line["requested"],
            available=line["available"],
            reason=line["reason"],
        )
        for line in row.details.get("rejected", ())
    )
    return model.TimelineEntry(
        step=model.Step(row.step),
        at=row.occurred_at,
        phase=model.Phase(row.phase),
        reason=row.reason,
        rejected=rejected,
        event_id=row.event_id,
    )
