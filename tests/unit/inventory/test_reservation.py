"""The Reservation aggregate: placing (all or nothing), and every operation from every state.

The tables list, for each state a reservation can be in, what commit, release, expire and a
repeated reserve do: the new state, whether it changed, the refusal raised, the events
raised and the stock left. Refusals and repeats must change nothing and raise no event.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from services.inventory.domain import errors, events
from services.inventory.domain.reservation import Reservation, Status
from services.inventory.domain.rules import Line, Shortage, ShortageReason
from services.inventory.domain.stock import Price, Product

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)
LINES = (Line("A", 2), Line("B", 1))


def catalog(a: int = 5, b: int = 5, *, threshold: int = 0) -> dict[str, Product]:
    return {
        sku: Product(sku, sku, Price(100, "EUR"), available, low_stock_threshold=threshold)
        for sku, available in (("A", a), ("B", b))
    }


def stock(products: dict[str, Product]) -> dict[str, tuple[int, int, int]]:
    return {sku: (p.available, p.reserved, p.committed) for sku, p in products.items()}


def place(products: dict[str, Product], lines: tuple[Line, ...] = LINES) -> Reservation:
    return Reservation.place(
        order_id=uuid.uuid4(),
        reservation_id=uuid.uuid4(),
        lines=lines,
        products=products,
        now=T0,
        ttl=TTL,
        correlation_id="corr-1",
    )


# --- placing -------------------------------------------------------------------------------


def test_place_holds_every_line_and_raises_reserved() -> None:
    products = catalog()
    r = place(products, (Line("B", 1), Line("A", 2)))
    assert r.status is Status.RESERVED
    assert r.lines == LINES  # sorted by SKU
    assert r.expires_at == T0 + TTL
    assert stock(products) == {"A": (3, 2, 0), "B": (4, 1, 0)}
    assert r.events == [events.Reserved(r.order_id, r.reservation_id, LINES, T0 + TTL)]


def test_place_holds_nothing_when_one_line_is_short_and_names_each_short_line() -> None:
    products = catalog(a=1)
    r = place(products, (Line("A", 2), Line("B", 1), Line("Z", 4)))
    shortages = (
        Shortage("A", 2, 1, ShortageReason.OUT_OF_STOCK),
        Shortage("Z", 4, 0, ShortageReason.UNKNOWN_SKU),
    )
    assert (r.status, r.shortages, r.expires_at) == (Status.REJECTED, shortages, None)
    assert stock(products) == {"A": (1, 0, 0), "B": (5, 0, 0)}
    assert r.events == [events.Rejected(r.order_id, shortages)]


def test_place_raises_low_stock_for_each_product_it_takes_to_the_threshold() -> None:
    products = catalog(a=5, b=5, threshold=3)
    r = place(products, (Line("A", 2), Line("B", 1)))  # A: 5 -> 3 crosses; B: 5 -> 4 does not
    assert r.events[1:] == [events.LowStock(r.order_id, "A", 3, 3)]
    again = place(products, (Line("A", 1), Line("B", 1)))  # A already low; B: 4 -> 3 crosses
    assert again.events[1:] == [events.LowStock(again.order_id, "B", 3, 3)]


def test_place_refuses_an_invalid_request_before_touching_stock() -> None:
    products = catalog()
    with pytest.raises(errors.InvalidRequest):
        place(products, (Line("A", 1), Line("A", 1)))
    assert stock(products) == {"A": (5, 0, 0), "B": (5, 0, 0)}


def test_a_tombstone_is_released_holds_nothing_and_raises_released() -> None:
    order_id, rid = uuid.uuid4(), uuid.uuid4()
    r = Reservation.tombstone(
        order_id=order_id, reservation_id=rid, reason="cancelled", now=T0, correlation_id="c"
    )
    assert (r.status, r.lines, r.expires_at, r.reason) == (Status.RELEASED, (), None, "cancelled")
    assert r.events == [events.Released(order_id, rid, "cancelled")]


@pytest.mark.parametrize("reason", ["x" * 501, "a\x00b"], ids=["too-long", "nul"])
def test_a_release_reason_too_long_or_with_nul_is_refused(reason: str) -> None:
    products = catalog()
    r = place(products)
    with pytest.raises(errors.InvalidRequest):
        r.release(products, reason, T0)
    assert r.status is Status.RESERVED
    r.release(products, "x" * 500, T0)
    with pytest.raises(errors.InvalidRequest):
        Reservation.tombstone(
            order_id=uuid.uuid4(),
            reservation_id=uuid.uuid4(),
            reason=reason,
            now=T0,
            correlation_id="c",
        )


# --- every operation from every state ------------------------------------------------------


def in_state(state: str) -> tuple[Reservation, dict[str, Product]]:
    """A reservation in ``state`` (its events drained) and the catalog it was placed on."""
    products = catalog()
    if state == "rejected":
        r = place(products, (Line("A", 9),))
    elif state == "tombstone":
        r = Reservation.tombstone(
            order_id=uuid.uuid4(),
            reservation_id=uuid.uuid4(),
            reason="r",
            now=T0,
            correlation_id="c",
        )
    else:
        r = place(products)
        if state == "committed":
            r.commit(products, T0)
        elif state == "released":
            r.release(products, "r", T0)
        elif state == "expired":
            r.expire(products, T0 + TTL)
    r.events.clear()
    return r, products


STATES = ["reserved", "rejected", "committed", "released", "expired", "tombstone"]
STATUS_OF = {
    "reserved": Status.RESERVED,
    "rejected": Status.REJECTED,
    "committed": Status.COMMITTED,
    "released": Status.RELEASED,
    "expired": Status.EXPIRED,
    "tombstone": Status.RELEASED,
}
HELD = {"A": (3, 2, 0), "B": (4, 1, 0)}
SOLD = {"A": (3, 0, 2), "B": (4, 0, 1)}
FREE = {"A": (5, 0, 0), "B": (5, 0, 0)}

Outcome = bool | type[errors.InventoryError]
Op = Callable[[Reservation, dict[str, Product]], bool]

OPERATIONS: dict[str, Op] = {
    "commit": lambda r, p: r.commit(p, T0),
    "commit_late": lambda r, p: r.commit(p, T0 + TTL),
    "release": lambda r, p: r.release(p, "cancelled", T0),
    "expire_early": lambda r, p: r.expire(p, T0 + TTL - timedelta(microseconds=1)),
    "expire": lambda r, p: r.expire(p, T0 + TTL),
}

# (operation, state) -> (outcome, status after, stock after, event raised)
CLOSED = errors.ReservationClosed
TABLE: dict[tuple[str, str], tuple[Outcome, Status, dict[str, tuple[int, int, int]], type | None]]
TABLE = {
    ("commit", "reserved"): (True, Status.COMMITTED, SOLD, events.Committed),
    ("commit", "committed"): (False, Status.COMMITTED, SOLD, None),
    ("commit", "rejected"): (CLOSED, Status.REJECTED, FREE, None),
    ("commit", "released"): (CLOSED, Status.RELEASED, FREE, None),
    ("commit", "expired"): (CLOSED, Status.EXPIRED, FREE, None),
    ("commit", "tombstone"): (CLOSED, Status.RELEASED, FREE, None),
    # At its expiry time a reservation can no longer be committed, swept or not.
    ("commit_late", "reserved"): (CLOSED, Status.RESERVED, HELD, None),
    ("commit_late", "committed"): (False, Status.COMMITTED, SOLD, None),
    ("release", "reserved"): (True, Status.RELEASED, FREE, events.Released),
    ("release", "committed"): (errors.ReservationCommitted, Status.COMMITTED, SOLD, None),
    ("release", "rejected"): (False, Status.REJECTED, FREE, None),
    ("release", "released"): (False, Status.RELEASED, FREE, None),
    ("release", "expired"): (False, Status.EXPIRED, FREE, None),
    ("release", "tombstone"): (False, Status.RELEASED, FREE, None),
    ("expire_early", "reserved"): (False, Status.RESERVED, HELD, None),
    ("expire", "reserved"): (True, Status.EXPIRED, FREE, events.Expired),
    **{
        ("expire", state): (False, STATUS_OF[state], SOLD if state == "committed" else FREE, None)
        for state in STATES
        if state != "reserved"
    },
}


@pytest.mark.parametrize(("operation", "state"), sorted(TABLE))
def test_operation_from_state(operation: str, state: str) -> None:
    outcome, status, after, event = TABLE[operation, state]
    r, products = in_state(state)
    if isinstance(outcome, bool):
        assert OPERATIONS[operation](r, products) is outcome
    else:
        with pytest.raises(outcome):
            OPERATIONS[operation](r, products)
    assert r.status is status
    assert stock(products) == after
    assert [type(e) for e in r.events] == ([event] if event else [])
    if event is not None:
        assert r.events[0].order_id == r.order_id


def test_every_state_and_operation_pair_is_in_the_table() -> None:
    for operation in ("commit", "release", "expire"):
        for state in STATES:
            assert (operation, state) in TABLE


# --- a repeated reserve ------------------------------------------------------------------

REPEATS: dict[str, tuple[type[errors.InventoryError] | None, type[errors.InventoryError] | None]]
REPEATS = {  # state -> (same lines, other lines)
    "reserved": (None, errors.ReservationMismatch),
    "committed": (None, errors.ReservationMismatch),
    "rejected": (errors.OutOfStock, errors.ReservationMismatch),
    "released": (CLOSED, CLOSED),
    "expired": (CLOSED, CLOSED),
    "tombstone": (CLOSED, CLOSED),
}


@pytest.mark.parametrize("state", STATES)
def test_a_repeated_reserve_answers_with_the_stored_state_or_refuses(state: str) -> None:
    same, other = REPEATS[state]
    for lines, expected in (
        ((LINES[1], LINES[0]) if state != "rejected" else (Line("A", 9),), same),
        ((Line("A", 1),), other),
    ):
        r, products = in_state(state)
        before = stock(products)
        if expected is None:
            r.repeat(lines)
        else:
            with pytest.raises(expected):
                r.repeat(lines)
        assert (r.status, stock(products), r.events) == (STATUS_OF[state], before, [])


def test_the_repeat_of_a_rejection_carries_the_stored_shortages() -> None:
    r, _ = in_state("rejected")
    with pytest.raises(errors.OutOfStock) as raised:
        r.repeat((Line("A", 9),))
    assert raised.value.shortages == (Shortage("A", 9, 5, ShortageReason.OUT_OF_STOCK),)


def test_due_only_while_holding_stock_at_or_after_expiry() -> None:
    r, _ = in_state("reserved")
    assert not r.due(T0 + TTL - timedelta(microseconds=1))
    assert r.due(T0 + TTL)
    for state in STATES[1:]:
        assert not in_state(state)[0].due(T0 + TTL * 10)
