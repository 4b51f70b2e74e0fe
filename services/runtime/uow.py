"""The async unit of work: one session, one transaction, and the outbox written with it.

Service layers use it as ``async with uow: ...; uow.emit(event); await uow.commit()``. Commit
inserts one outbox row per emitted event in the same transaction as the state change, so a
state change and its event are stored together or not at all. Consumers call
``mark_processed`` in that transaction too: the inbox row is what makes a redelivery harmless.
Each service subclasses it to attach its repositories in ``_start``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from opentelemetry import propagate
from sqlalchemy import Table, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.runtime.events import Event


class UnitOfWork:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, outbox: Table, inbox: Table
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._inbox = inbox
        self._session: AsyncSession | None = None
        self._events: list[Event] = []

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        self._events = []
        self._start(self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self.session, None
        try:
            await session.rollback()  # a no-op after commit(); undoes everything otherwise
        finally:
            await session.close()
            self._events = []

    def _start(self, session: AsyncSession) -> None:
        """Subclasses build their repositories on ``session`` here."""

    def emit(self, event: Event) -> None:
        """Queue an event; it is stored in the outbox by ``commit`` (and dropped on rollback)."""
        self._events.append(event)

    async def commit(self) -> None:
        if self._events:
            trace_headers: dict[str, str] = {}
            propagate.inject(trace_headers)  # the caller's trace continues through Kafka
            await self.session.execute(
                insert(self._outbox),
                [
                    {
                        "event_id": event.id,
                        "topic": event.topic,
                        "key": event.aggregate_id,
                        "event_type": event.type,
                        "value": event.encode(),
                        "headers": trace_headers,
                    }
                    for event in self._events
                ],
            )
            self._events = []
        await self.session.commit()

    async def rollback(self) -> None:
        self._events = []
        await self.session.rollback()

    async def mark_processed(self, consumer_group: str, event: Event) -> bool:
        """Record ``event`` as handled by ``consumer_group``; False if it already was."""
        result = await self.session.execute(
            pg_insert(self._inbox)
            .values(consumer_group=consumer_group, event_id=event.id, event_type=event.type)
            .on_conflict_do_nothing()
            .returning(self._inbox.c.event_id)
        )
        return result.first() is not None
