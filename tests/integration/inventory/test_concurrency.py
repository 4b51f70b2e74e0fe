"""Never oversell: hundreds of concurrent reservations on separate connections, real Postgres.

Each request runs the real service layer in its own unit of work (its own session and pooled
connection), all started at once, so they really contend for the same product rows. The
stock must add up exactly afterwards, and exactly as many requests may succeed as the stock
allowed. Also: concurrent first requests for one order (duplicates, and a reserve racing a
release) end with one reservation and one event per outcome.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest_asyncio

from services.inventory.adapters.unit_of_work import InventoryUnitOfWork
from services.inventory.domain import errors
from services.inventory.domain.rules import Line
from services.inventory.service_layer import handlers
from services.runtime.db import create_engine, session_factory
from services.runtime.settings import DatabaseSettings
from tests.integration.inventory.conftest import InventoryDb, product

REQUESTS = 200
TTL = timedelta(minutes=15)


@pytest_asyncio.fixture(scope="module")
async def wide(inventory_db: InventoryDb) -> AsyncIterator[InventoryDb]:
    """The same database behind a pool of 50 connections, so requests truly overlap."""
    engine = create_engine(DatabaseSettings(url=inventory_db.url, pool_size=40, max_overflow=10))
    try:
        yield InventoryDb(inventory_db.url, engine, session_factory(engine))
    finally:
        await engine.dispose()


async def attempt(uow: InventoryUnitOfWork, order_id: uuid.UUID, lines: list[Line]) -> str:
    try:
        result = await handlers.reserve(
            uow, order_id=order_id, lines=lines, now=datetime.now(UTC), ttl=TTL
        )
    except errors.OutOfStock:
        return "rejected"
    return "created" if result.created else "repeated"


async def test_200_concurrent_reservations_never_oversell(wide: InventoryDb) -> None:
    # Each order wants 1 x A and 2 x B: B's 101 units allow exactly 50 orders; A (70) never
    # runs short. Half the requests list B first, so lock order is the service's, not theirs.
    a, b = f"A-{uuid.uuid4().hex[:8]}", f"B-{uuid.uuid4().hex[:8]}"
    await wide.add_products(product(a, 70, threshold=10), product(b, 101))
    orders = [uuid.uuid4() for _ in range(REQUESTS)]
    lines = [[Line(a, 1), Line(b, 2)], [Line(b, 2), Line(a, 1)]]

    outcomes = await asyncio.gather(
        *(attempt(wide.uow(), order, lines[i % 2]) for i, order in enumerate(orders))
    )

    assert Counter(outcomes) == {"created": 50, "rejected": 150}
    stock_a, stock_b = await wide.stock(a), await wide.stock(b)
    assert stock_a == {"available": 20, "reserved": 50, "committed": 0}
    assert stock_b == {"available": 1, "reserved": 100, "committed": 0}
    events = Counter(e.type for e in await wide.events(*orders))
    assert events == {"inventory.reserved": 50, "inventory.rejected": 150}
    # A crossed its threshold (10) only if it got there: 70 - 50 = 20 stays above.
    assert "inventory.low_stock" not in events


async def test_concurrent_mixed_requests_conserve_stock_exactly(wide: InventoryDb) -> None:
    # Orders of 1 to 3 units of one or both products, a third of them released as they go:
    # which succeed depends on timing, but the counts must always add up.
    a, b = f"A-{uuid.uuid4().hex[:8]}", f"B-{uuid.uuid4().hex[:8]}"
    await wide.add_products(product(a, 120), product(b, 90))
    orders = [uuid.uuid4() for _ in range(REQUESTS)]

    async def one(i: int, order: uuid.UUID) -> tuple[uuid.UUID, str, list[Line]]:
        lines = [Line(a, 1 + i % 3), Line(b, 1 + i % 2)][: 1 + i % 2]
        outcome = await attempt(wide.uow(), order, lines)
        if outcome == "created" and i % 3 == 0:
            await handlers.release(wide.uow(), order_id=order, reason="test", now=datetime.now(UTC))
            outcome = "released"
        return order, outcome, lines

    results = await asyncio.gather(*(one(i, order) for i, order in enumerate(orders)))

    held = [lines for _, outcome, lines in results if outcome == "created"]
    for name, initial in ((a, 120), (b, 90)):
        counts = await wide.stock(name)
        wanted = sum(line.quantity for ls in held for line in ls if line.sku == name)
        assert counts["reserved"] == wanted
        assert counts["available"] + counts["reserved"] == initial
        assert counts["available"] >= 0
    assert any(outcome == "rejected" for _, outcome, _ in results)  # stock did run out


async def test_concurrent_first_requests_for_one_order_make_one_reservation(
    wide: InventoryDb,
) -> None:
    a = f"A-{uuid.uuid4().hex[:8]}"
    await wide.add_products(product(a, 100))
    order = uuid.uuid4()

    outcomes = await asyncio.gather(*(attempt(wide.uow(), order, [Line(a, 3)]) for _ in range(20)))

    assert Counter(outcomes) == {"created": 1, "repeated": 19}
    assert await wide.stock(a) == {"available": 97, "reserved": 3, "committed": 0}
    assert [e.type for e in await wide.events(order)] == ["inventory.reserved"]


async def test_a_reserve_racing_a_release_ends_released_either_way(wide: InventoryDb) -> None:
    a = f"A-{uuid.uuid4().hex[:8]}"
    await wide.add_products(product(a, 1000))
    orders = [uuid.uuid4() for _ in range(30)]

    async def race(order: uuid.UUID) -> None:
        reserve = attempt(wide.uow(), order, [Line(a, 2)])
        release = handlers.release(
            wide.uow(), order_id=order, reason="deadline", now=datetime.now(UTC)
        )
        await asyncio.gather(reserve, release, return_exceptions=True)

    await asyncio.gather(*(race(order) for order in orders))

    # Whichever landed first, the order's stock is back and it ends released.
    assert await wide.stock(a) == {"available": 1000, "reserved": 0, "committed": 0}
    for order in orders:
        types = [e.type for e in await wide.events(order)]
        assert types in (["inventory.released"], ["inventory.reserved", "inventory.released"])
