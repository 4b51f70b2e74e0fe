"""Properties of the Order aggregate over arbitrary histories (hypothesis).

Whatever facts and commands arrive, in whatever order and with redeliveries: a final phase
absorbs everything, a live phase never moves back, every new fact adds exactly one timeline
entry, and exactly one domain event is raised per finishing command. Totals are exact sums.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.orders.domain import errors, facts, model, money
from services.orders.domain.model import Phase

T0 = datetime(2030, 1, 1, tzinfo=UTC)
RANK = {Phase.PENDING: 0, Phase.STOCK_RESERVED: 1, Phase.PAYMENT_AUTHORIZED: 2}
FACT_KINDS = sorted(model.FACT_EFFECTS, key=lambda kind: kind.__name__)


@st.composite
def fact_strategy(draw: st.DrawFn) -> facts.Fact:
    kind = draw(st.sampled_from(FACT_KINDS))
    at = T0 + timedelta(seconds=draw(st.integers(0, 3600)))
    event_id = uuid.UUID(int=draw(st.integers(0, 7)))  # few ids, so redeliveries happen
    if kind is facts.StockRejected:
        line = facts.RejectedLine("SKU-1", requested=2, available=0, reason="out_of_stock")
        return facts.StockRejected(event_id, at, lines=(line,))
    if kind is facts.StockReleased:
        return facts.StockReleased(event_id, at, reason="r")
    if kind is facts.PaymentFailed:
        return facts.PaymentFailed(event_id, at, reason="card_declined")
    return kind(event_id, at)


Step = facts.Fact | str  # a fact, or the command "complete" / "cancel"
steps = st.lists(st.one_of(fact_strategy(), st.sampled_from(["complete", "cancel"])), max_size=30)


def new_order() -> model.Order:
    order = model.Order.place(
        order_id=uuid.uuid4(),
        customer_id="c-1",
        lines=[model.Line("SKU-1", 2, 1999)],
        currency="EUR",
        payment_method="pm_card_visa",
        now=T0,
    )
    order.events.clear()
    return order


def apply(order: model.Order, step: Step) -> None:
    now = T0 + timedelta(hours=2)
    try:
        if step == "complete":
            order.complete(now=now)
        elif step == "cancel":
            order.cancel(reason="because", now=now)
        else:
            assert isinstance(step, facts.Fact)
            order.record(step)
    except errors.OrderConflict:
        assert order.phase.final


@given(steps)
def test_phases_never_move_back_and_final_phases_absorb(history: list[Step]) -> None:
    order = new_order()
    for step in history:
        before = order.phase
        apply(order, step)
        if before.final:
            assert order.phase is before
        elif not order.phase.final:
            assert RANK[order.phase] >= RANK[before]


@given(steps)
def test_each_new_fact_adds_one_entry_and_each_finish_one_event(history: list[Step]) -> None:
    order = new_order()
    seen: set[uuid.UUID] = set()
    for step in history:
        entries = len(order.timeline)
        apply(order, step)
        if isinstance(step, facts.Fact):
            assert len(order.timeline) == entries + (step.event_id not in seen)
            seen.add(step.event_id)
    # One OrderCompleted or OrderCancelled, the first finish; repeats and conflicts add none.
    assert len(order.events) == int(order.phase.final)
    finals = [entry.phase for entry in order.timeline if entry.phase.final]
    assert finals[:1] == ([order.phase] if order.phase.final else [])


lines = st.lists(
    st.tuples(
        st.integers(1, money.MAX_QUANTITY),
        st.one_of(st.integers(0, 3), st.integers(0, money.MAX_AMOUNT // 1000), st.integers(0)),
    ),
    max_size=money.MAX_LINES,
)


@given(lines)
def test_totals_are_exact_or_refused(pairs: list[tuple[int, int]]) -> None:
    exact = sum(quantity * price for quantity, price in pairs)
    if money.MIN_AMOUNT <= exact <= money.MAX_AMOUNT:
        assert money.order_total(pairs) == exact
    else:
        try:
            money.order_total(pairs)
        except money.AmountOutOfRange as e:
            assert e.total == exact
            return
        raise AssertionError(f"total {exact} was accepted")


# Prices small enough that even 100 lines of 10,000 units stay within the money range.
small_lines = st.lists(
    st.tuples(
        st.integers(1, money.MAX_QUANTITY),
        st.integers(1, money.MAX_AMOUNT // (money.MAX_QUANTITY * money.MAX_LINES)),
    ),
    min_size=1,
    max_size=money.MAX_LINES,
)


@given(small_lines)
def test_an_order_amount_is_the_exact_sum_of_its_lines(pairs: list[tuple[int, int]]) -> None:
    order = model.Order.place(
        order_id=uuid.uuid4(),
        customer_id="c-1",
        lines=[model.Line(f"SKU-{n}", q, p) for n, (q, p) in enumerate(pairs)],
        currency="EUR",
        payment_method="pm",
        now=T0,
    )
    assert order.amount == sum(q * p for q, p in pairs)
