"""Properties of the reservation rules under any sequence of requests (hypothesis).

A state machine places, commits, releases and expires reservations on a small catalog in any
order, with time moving forward, and checks after every step: no count is ever negative,
each product's total is conserved, its reserved and committed counts equal the lines of the
reservations in those states, a placement moves every line or none, low-stock alerts fire
exactly on a crossing, and every change raises exactly one event (refusals and repeats none).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from services.inventory.domain import errors, events, rules
from services.inventory.domain.reservation import Reservation, Status
from services.inventory.domain.rules import Line
from services.inventory.domain.stock import Price, Product

T0 = datetime(2030, 1, 1, tzinfo=UTC)
TTL = timedelta(minutes=10)
SKUS = ["A", "B", "C"]

request_lines = st.lists(
    st.builds(Line, st.sampled_from([*SKUS, "Z"]), st.integers(1, 6)),
    min_size=1,
    max_size=4,
    unique_by=lambda line: line.sku,
)


class Reservations(RuleBasedStateMachine):
    placed = Bundle("placed")

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.products: dict[str, Product] = {}
        self.initial: dict[str, int] = {}
        self.all: list[Reservation] = []

    @initialize(
        stock=st.lists(st.integers(0, 12), min_size=3, max_size=3),
        thresholds=st.lists(st.integers(0, 5), min_size=3, max_size=3),
    )
    def catalog(self, stock: list[int], thresholds: list[int]) -> None:
        for sku, available, threshold in zip(SKUS, stock, thresholds, strict=True):
            self.products[sku] = Product(sku, sku, Price(1, "EUR"), available, threshold)
            self.initial[sku] = available

    @rule(target=placed, lines=request_lines)
    def place(self, lines: list[Line]) -> Reservation:
        before = {sku: p.available for sku, p in self.products.items()}
        r = Reservation.place(
            order_id=uuid.uuid4(),
            reservation_id=uuid.uuid4(),
            lines=lines,
            products=self.products,
            now=self.now,
            ttl=TTL,
            correlation_id="c",
        )
        after = {sku: p.available for sku, p in self.products.items()}
        fits = all(line.sku in before and before[line.sku] >= line.quantity for line in lines)
        wanted = {line.sku: line.quantity for line in lines}
        if fits:  # all: every line moved by exactly its quantity
            assert r.status is Status.RESERVED
            assert after == {sku: n - wanted.get(sku, 0) for sku, n in before.items()}
            low = {e.sku for e in r.events if isinstance(e, events.LowStock)}
            # From above the threshold to at or below it: once per crossing.
            crossed = {
                sku
                for sku in wanted
                if before[sku] > self.products[sku].low_stock_threshold >= after[sku]
            }
            assert low == crossed
            assert [type(e) for e in r.events].count(events.Reserved) == 1
        else:  # nothing moved, and each short line is named
            assert r.status is Status.REJECTED
            assert after == before
            assert {s.sku for s in r.shortages} == {
                line.sku
                for line in lines
                if line.sku not in before or before[line.sku] < line.quantity
            }
            assert [type(e) for e in r.events] == [events.Rejected]
        r.events.clear()
        self.all.append(r)
        return r

    @rule(r=placed)
    def commit(self, r: Reservation) -> None:
        self._apply(r, lambda: r.commit(self.products, self.now), events.Committed)

    @rule(r=placed, reason=st.text(max_size=5))  # may hold a NUL: refused, changing nothing
    def release(self, r: Reservation, reason: str) -> None:
        self._apply(r, lambda: r.release(self.products, reason, self.now), events.Released)

    @rule(r=placed)
    def expire(self, r: Reservation) -> None:
        self._apply(r, lambda: r.expire(self.products, self.now), events.Expired)

    @rule(r=placed, lines=request_lines)
    def repeat(self, r: Reservation, lines: list[Line]) -> None:
        before = self._stock()
        try:
            r.repeat(lines)
        except errors.ReservationConflict:
            pass
        assert (self._stock(), r.events) == (before, [])

    @rule(minutes=st.integers(0, 12))
    def tick(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    def _apply(self, r: Reservation, operation: Callable[[], bool], event: type) -> None:
        before, status = self._stock(), r.status
        try:
            changed = operation()
        except (errors.ReservationConflict, errors.InvalidRequest):
            changed = False
            assert r.status is status
        if changed:
            assert [type(e) for e in r.events] == [event]
        else:
            assert (self._stock(), r.status, r.events) == (before, status, [])
        r.events.clear()

    def _stock(self) -> dict[str, tuple[int, int, int]]:
        return {sku: (p.available, p.reserved, p.committed) for sku, p in self.products.items()}

    @invariant()
    def never_negative(self) -> None:
        for p in self.products.values():
            assert min(p.available, p.reserved, p.committed) >= 0

    @invariant()
    def conserved(self) -> None:
        for sku, p in self.products.items():
            assert p.total == self.initial[sku]

    @invariant()
    def counts_match_the_reservations(self) -> None:
        for sku, p in self.products.items():
            held = [r for r in self.all if r.status is Status.RESERVED]
            sold = [r for r in self.all if r.status is Status.COMMITTED]
            assert p.reserved == sum(ln.quantity for r in held for ln in r.lines if ln.sku == sku)
            assert p.committed == sum(ln.quantity for r in sold for ln in r.lines if ln.sku == sku)


TestReservations = Reservations.TestCase
TestReservations.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)


@given(
    lines=request_lines,
    available=st.dictionaries(st.sampled_from(SKUS), st.integers(0, 10)),
)
def test_decide_is_all_or_nothing_and_names_exactly_the_short_lines(
    lines: list[Line], available: dict[str, int]
) -> None:
    shortages = rules.decide(lines, available)
    short = {line.sku for line in lines if available.get(line.sku, -1) < line.quantity}
    assert {s.sku for s in shortages} == short
    for s in shortages:
        assert s.available == available.get(s.sku, 0)
        expected = (
            rules.ShortageReason.UNKNOWN_SKU
            if s.sku not in available
            else rules.ShortageReason.OUT_OF_STOCK
        )
        assert s.reason is expected
