"""Reservations on the real database: every outcome stored with exactly one event, and replays.

Through the service layer (the HTTP tests cover the routes): repeats answer with the stored
outcome and add no event, a release that arrives first leaves a tombstone that refuses the
late reserve, expired reservations give their stock back with ``inventory.expired`` (from the
sweeper, or from the request that finds them due), and low stock is reported once per crossing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.inventory.domain import errors
from services.inventory.domain.rules import Line
from services.inventory.entrypoints.sweeper import ExpirySweeper
from services.inventory.service_layer import handlers
from services.inventory.settings import SweeperSettings
from services.runtime import events as contracts
from tests.integration.inventory.conftest import InventoryDb, product

TTL = timedelta(minutes=15)


def sku(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def reserve(
    db: InventoryDb, order_id: uuid.UUID, *lines: Line, now: datetime | None = None
) -> handlers.Reserved:
    return await handlers.reserve(
        db.uow(),
        order_id=order_id,
        lines=lines,
        now=now or datetime.now(UTC),
        ttl=TTL,
        correlation_id=f"corr-{order_id}",
    )


async def test_reserve_commit_and_their_repeats_store_one_event_each(
    inventory_db: InventoryDb,
) -> None:
    a, b = sku("A"), sku("B")
    await inventory_db.add_products(product(a, 10), product(b, 4))
    order = uuid.uuid4()

    first = await reserve(inventory_db, order, Line(b, 1), Line(a, 3))
    again = await reserve(inventory_db, order, Line(a, 3), Line(b, 1))
    assert (first.created, again.created) == (True, False)
    assert again.reservation.reservation_id == first.reservation.reservation_id
    assert await inventory_db.stock(a) == {"available": 7, "reserved": 3, "committed": 0}

    now = datetime.now(UTC)
    committed = await handlers.commit(inventory_db.uow(), order_id=order, now=now)
    await handlers.commit(inventory_db.uow(), order_id=order, now=now)
    assert committed.status == "committed"
    assert await inventory_db.stock(a) == {"available": 7, "reserved": 0, "committed": 3}
    assert (await reserve(inventory_db, order, Line(a, 3), Line(b, 1))).created is False

    with pytest.raises(errors.ReservationCommitted):
        await handlers.release(inventory_db.uow(), order_id=order, reason="late", now=now)
    with pytest.raises(errors.ReservationMismatch):
        await reserve(inventory_db, order, Line(a, 4))

    stored = await inventory_db.events(order)
    assert [e.type for e in stored] == ["inventory.reserved", "inventory.committed"]
    reserved = stored[0].payload
    assert isinstance(reserved, contracts.InventoryReserved)
    assert [(i.sku, i.quantity) for i in reserved.items] == sorted([(a, 3), (b, 1)])
    assert reserved.reservation_id == first.reservation.reservation_id
    assert {e.correlation_id for e in stored} == {f"corr-{order}"}
    assert {e.aggregate_id for e in stored} == {str(order)}


async def test_a_rejection_is_stored_so_its_repeat_gets_the_same_answer_and_no_event(
    inventory_db: InventoryDb,
) -> None:
    a, b = sku("A"), sku("B")
    unknown = sku("NOPE")
    await inventory_db.add_products(product(a, 2), product(b, 5))
    order = uuid.uuid4()

    answers = []
    for _ in range(2):
        with pytest.raises(errors.OutOfStock) as raised:
            await reserve(inventory_db, order, Line(a, 3), Line(b, 1), Line(unknown, 1))
        shortages = raised.value.shortages
        answers.append([(s.sku, s.requested, s.available, s.reason) for s in shortages])
    assert (
        answers[0]
        == answers[1]
        == sorted([(a, 3, 2, "out_of_stock"), (unknown, 1, 0, "unknown_sku")])
    )
    assert await inventory_db.stock(b) == {"available": 5, "reserved": 0, "committed": 0}

    # Stock arriving later does not turn the stored rejection into a reservation.
    await handlers.seed(inventory_db.uow(), catalog=[product(a, 50)], reset_stock=True)
    with pytest.raises(errors.OutOfStock):
        await reserve(inventory_db, order, Line(a, 3), Line(b, 1), Line(unknown, 1))

    now = datetime.now(UTC)
    with pytest.raises(errors.ReservationClosed):
        await handlers.commit(inventory_db.uow(), order_id=order, now=now)
    released = await handlers.release(inventory_db.uow(), order_id=order, reason="x", now=now)
    assert released.status == "rejected"  # nothing was held: nothing to release

    [rejected] = await inventory_db.events(order)
    assert isinstance(rejected.payload, contracts.InventoryRejected)
    assert {line.sku for line in rejected.payload.lines} == {a, unknown}


async def test_release_gives_stock_back_once_and_a_late_commit_is_refused(
    inventory_db: InventoryDb,
) -> None:
    a = sku("A")
    await inventory_db.add_products(product(a, 5))
    order = uuid.uuid4()
    await reserve(inventory_db, order, Line(a, 4))
    now = datetime.now(UTC)
    for _ in range(2):
        r = await handlers.release(inventory_db.uow(), order_id=order, reason="declined", now=now)
        assert (r.status, r.reason) == ("released", "declined")
    assert await inventory_db.stock(a) == {"available": 5, "reserved": 0, "committed": 0}
    with pytest.raises(errors.ReservationClosed):
        await handlers.commit(inventory_db.uow(), order_id=order, now=now)
    with pytest.raises(errors.ReservationClosed):
        await reserve(inventory_db, order, Line(a, 4))
    assert [e.type for e in await inventory_db.events(order)] == [
        "inventory.reserved",
        "inventory.released",
    ]


async def test_a_release_before_the_reserve_leaves_a_tombstone_that_refuses_it(
    inventory_db: InventoryDb,
) -> None:
    a = sku("A")
    await inventory_db.add_products(product(a, 5))
    order = uuid.uuid4()
    now = datetime.now(UTC)
    tombstone = await handlers.release(
        inventory_db.uow(), order_id=order, reason="saga deadline", now=now
    )
    assert (tombstone.status, tombstone.lines) == ("released", ())
    await handlers.release(inventory_db.uow(), order_id=order, reason="again", now=now)

    with pytest.raises(errors.ReservationClosed) as raised:
        await reserve(inventory_db, order, Line(a, 1))
    assert raised.value.status == "released"
    assert await inventory_db.stock(a) == {"available": 5, "reserved": 0, "committed": 0}
    with pytest.raises(errors.ReservationNotFound):
        await handlers.commit(inventory_db.uow(), order_id=uuid.uuid4(), now=now)
    [released] = await inventory_db.events(order)
    assert isinstance(released.payload, contracts.InventoryReleased)
    assert released.payload.reason == "saga deadline"


async def test_the_sweeper_expires_due_reservations_and_emits_inventory_expired(
    inventory_db: InventoryDb,
) -> None:
    a = sku("A")
    await inventory_db.add_products(product(a, 10))
    t0 = datetime.now(UTC)
    due, fresh = uuid.uuid4(), uuid.uuid4()
    await reserve(inventory_db, due, Line(a, 3), now=t0 - TTL)
    await reserve(inventory_db, fresh, Line(a, 2), now=t0)
    sweeper = ExpirySweeper(inventory_db.uow, SweeperSettings(batch_size=1), clock=lambda: t0)

    assert await sweeper.run_once() >= 1
    assert await sweeper.run_once() == 0
    assert await inventory_db.stock(a) == {"available": 8, "reserved": 2, "committed": 0}
    [_, expired] = await inventory_db.events(due)
    assert isinstance(expired.payload, contracts.InventoryExpired)
    assert expired.correlation_id == f"corr-{due}"  # the saga's, though no request caused it
    assert [e.type for e in await inventory_db.events(fresh)] == ["inventory.reserved"]
    with pytest.raises(errors.ReservationClosed):
        await handlers.commit(inventory_db.uow(), order_id=due, now=t0)


async def test_a_request_that_finds_its_reservation_due_expires_it_before_the_sweeper(
    inventory_db: InventoryDb,
) -> None:
    a = sku("A")
    await inventory_db.add_products(product(a, 5))
    order = uuid.uuid4()
    t0 = datetime.now(UTC)
    await reserve(inventory_db, order, Line(a, 4), now=t0)

    with pytest.raises(errors.ReservationClosed) as raised:
        await handlers.commit(inventory_db.uow(), order_id=order, now=t0 + TTL)
    assert raised.value.status == "expired"
    assert await inventory_db.stock(a) == {"available": 5, "reserved": 0, "committed": 0}
    released = await handlers.release(inventory_db.uow(), order_id=order, reason="x", now=t0)
    assert released.status == "expired"
    with pytest.raises(errors.ReservationClosed):
        await reserve(inventory_db, order, Line(a, 4), now=t0 + TTL)
    assert [e.type for e in await inventory_db.events(order)] == [
        "inventory.reserved",
        "inventory.expired",
    ]


async def test_low_stock_is_reported_once_per_crossing(inventory_db: InventoryDb) -> None:
    a = sku("A")
    await inventory_db.add_products(product(a, 10, threshold=5))
    orders = [uuid.uuid4() for _ in range(4)]
    await reserve(inventory_db, orders[0], Line(a, 4))  # 10 -> 6: above
    await reserve(inventory_db, orders[1], Line(a, 2))  # 6 -> 4: crosses
    await reserve(inventory_db, orders[2], Line(a, 1))  # 4 -> 3: already low
    now = datetime.now(UTC)
    await handlers.release(inventory_db.uow(), order_id=orders[1], reason="x", now=now)  # -> 5
    await handlers.release(inventory_db.uow(), order_id=orders[0], reason="x", now=now)  # -> 9
    await reserve(inventory_db, orders[3], Line(a, 4))  # 9 -> 5: crosses again

    low = [e for e in await inventory_db.events(*orders) if e.type == "inventory.low_stock"]
    assert [(e.aggregate_id, e.payload) for e in low] == [
        (str(o), contracts.InventoryLowStock(order_id=o, sku=a, available=n, threshold=5))
        for o, n in ((orders[1], 4), (orders[3], 5))
    ]


async def test_seed_inserts_then_refreshes_without_touching_held_stock(
    inventory_db: InventoryDb,
) -> None:
    a = sku("A")
    await inventory_db.add_products(product(a, 10, price=500))
    await reserve(inventory_db, uuid.uuid4(), Line(a, 4))
    await handlers.seed(inventory_db.uow(), catalog=[product(a, 99, price=700, threshold=2)])
    found = await handlers.product(inventory_db.uow(), sku=a)
    assert (found.price.value, found.low_stock_threshold, found.available) == (700, 2, 6)
    await handlers.seed(inventory_db.uow(), catalog=[product(a, 10)], reset_stock=True)
    assert await inventory_db.stock(a) == {"available": 6, "reserved": 4, "committed": 0}
    await handlers.seed(inventory_db.uow(), catalog=[product(a, 3)], reset_stock=True)
    assert await inventory_db.stock(a) == {"available": 0, "reserved": 4, "committed": 0}


async def test_products_page_through_the_catalog_in_sku_order(inventory_db: InventoryDb) -> None:
    seen: list[str] = []
    after: str | None = None
    while True:
        page, after = await handlers.products_page(inventory_db.uow(), after=after, limit=3)
        seen.extend(p.sku for p in page)
        if after is None:
            break
        assert len(page) == 3
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) >= 10
    with pytest.raises(errors.ProductNotFound):
        await handlers.product(inventory_db.uow(), sku="NO-SUCH-SKU")
