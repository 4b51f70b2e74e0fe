"""The Order aggregate's phase rules, table-driven over every phase x every fact and command.

The expected phases are written out by hand (not computed by the rule under test): progress
facts move a live order forward only, other facts are history, final phases absorb
everything, a repeated command is a no-op and the opposite command a conflict.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.orders.domain import errors, events, facts, model
from services.orders.domain.model import Phase, Step

T0 = datetime(2030, 1, 1, tzinfo=UTC)
P, SR, PA, DONE, CANCELLED = (
    Phase.PENDING,
    Phase.STOCK_RESERVED,
    Phase.PAYMENT_AUTHORIZED,
    Phase.COMPLETED,
    Phase.CANCELLED,
)


def order_in(phase: Phase) -> model.Order:
    return model.Order(
        id=uuid.uuid4(),
        customer_id="c-1",
        lines=(model.Line("SKU-1", 2, 1999),),
        currency="EUR",
        payment_method="pm_card_visa",
        created_at=T0,
        updated_at=T0,
        phase=phase,
    )


def make_fact(kind: type[facts.Fact], at: datetime = T0 + timedelta(seconds=5)) -> facts.Fact:
    event_id = uuid.uuid4()
    if kind is facts.StockRejected:
        line = facts.RejectedLine("SKU-1", requested=2, available=1, reason="out_of_stock")
        return facts.StockRejected(event_id, at, lines=(line,))
    if kind is facts.StockReleased:
        return facts.StockReleased(event_id, at, reason="compensation")
    if kind is facts.PaymentFailed:
        return facts.PaymentFailed(event_id, at, reason="card_declined", decline_code="generic")
    return kind(event_id, at)


FACTS: dict[type[facts.Fact], tuple[Step, dict[Phase, Phase]]] = {
    facts.StockReserved: (
        Step.STOCK_RESERVED,
        {P: SR, SR: SR, PA: PA, DONE: DONE, CANCELLED: CANCELLED},
    ),
    facts.PaymentAuthorized: (
        Step.PAYMENT_AUTHORIZED,
        {P: PA, SR: PA, PA: PA, DONE: DONE, CANCELLED: CANCELLED},
    ),
    **{
        kind: (step, {phase: phase for phase in Phase})
        for kind, step in [
            (facts.StockRejected, Step.STOCK_REJECTED),
            (facts.StockReleased, Step.STOCK_RELEASED),
            (facts.StockExpired, Step.STOCK_EXPIRED),
            (facts.StockCommitted, Step.STOCK_COMMITTED),
            (facts.PaymentFailed, Step.PAYMENT_FAILED),
            (facts.PaymentRefunded, Step.PAYMENT_REFUNDED),
        ]
    },
}


def test_the_table_covers_every_fact_and_phase() -> None:
    assert set(FACTS) == set(model.FACT_EFFECTS) == set(facts.Fact.__subclasses__())
    assert all(set(table) == set(Phase) for _, table in FACTS.values())


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize("kind", list(FACTS), ids=lambda kind: kind.__name__)
def test_a_fact_moves_the_phase_as_the_table_says(phase: Phase, kind: type[facts.Fact]) -> None:
    order = order_in(phase)
    fact = make_fact(kind)
    step, expected = FACTS[kind]

    entry = order.record(fact)

    assert order.phase is expected[phase]
    assert entry is not None
    assert order.timeline == [entry]
    assert (entry.step, entry.at, entry.phase, entry.event_id) == (
        step,
        fact.occurred_at,
        expected[phase],
        fact.event_id,
    )
    assert order.updated_at == fact.occurred_at
    assert order.events == []  # facts are others' news: orders publishes nothing for them


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize("kind", list(FACTS), ids=lambda kind: kind.__name__)
def test_a_redelivered_fact_is_recorded_once(phase: Phase, kind: type[facts.Fact]) -> None:
    order = order_in(phase)
    fact = make_fact(kind)
    order.record(fact)
    after_first = (order.phase, list(order.timeline))

    assert order.record(fact) is None
    assert (order.phase, order.timeline) == after_first


def test_an_older_fact_does_not_move_updated_at_back() -> None:
    order = order_in(P)
    order.record(make_fact(facts.StockReserved, at=T0 + timedelta(minutes=1)))
    order.record(make_fact(facts.StockExpired, at=T0 + timedelta(seconds=1)))
    assert order.updated_at == T0 + timedelta(minutes=1)


REASONS = [
    (make_fact(facts.StockRejected), "SKU-1: out_of_stock", 1),
    (make_fact(facts.StockReleased), "compensation", 0),
    (make_fact(facts.PaymentFailed), "card_declined (generic)", 0),
    (
        facts.PaymentFailed(uuid.uuid4(), T0, reason="canceled", message="intent canceled"),
        "canceled: intent canceled",
        0,
    ),
    (make_fact(facts.StockExpired), "", 0),
]


@pytest.mark.parametrize(("fact", "reason", "rejected"), REASONS)
def test_timeline_entries_carry_the_reason(fact: facts.Fact, reason: str, rejected: int) -> None:
    entry = order_in(P).record(fact)
    assert entry is not None
    assert entry.reason == reason
    assert len(entry.rejected) == rejected


# --- commands ------------------------------------------------------------------------------

# phase -> (phase after, changed, domain event type) or the error it raises
COMPLETE: dict[Phase, tuple[Phase, bool, type[events.OrderEvent] | None] | type[Exception]] = {
    P: (DONE, True, events.OrderCompleted),
    SR: (DONE, True, events.OrderCompleted),
    PA: (DONE, True, events.OrderCompleted),
    DONE: (DONE, False, None),
    CANCELLED: errors.OrderConflict,
}
CANCEL: dict[Phase, tuple[Phase, bool, type[events.OrderEvent] | None] | type[Exception]] = {
    P: (CANCELLED, True, events.OrderCancelled),
    SR: (CANCELLED, True, events.OrderCancelled),
    PA: (CANCELLED, True, events.OrderCancelled),
    DONE: errors.OrderConflict,
    CANCELLED: (CANCELLED, False, None),
}


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize("command", ["complete", "cancel"])
def test_a_command_moves_the_phase_as_the_table_says(phase: Phase, command: str) -> None:
    order = order_in(phase)
    now = T0 + timedelta(minutes=2)
    expected = (COMPLETE if command == "complete" else CANCEL)[phase]

    def run() -> bool:
        if command == "complete":
            return order.complete(now=now)
        return order.cancel(reason="PaymentDeclined", now=now)

    if isinstance(expected, type):
        with pytest.raises(expected):
            run()
        assert (order.phase, order.timeline, order.events) == (phase, [], [])
        return
    phase_after, changed, event_type = expected
    assert run() is changed
    assert order.phase is phase_after
    if not changed:
        assert (order.timeline, order.events) == ([], [])
        return
    assert [type(e) for e in order.events] == [event_type]
    [entry] = order.timeline
    step = Step.COMPLETED if command == "complete" else Step.CANCELLED
    assert (entry.step, entry.at, entry.phase) == (step, now, phase_after)
    assert order.updated_at == now


def test_cancel_keeps_its_reason_and_a_repeat_keeps_the_first() -> None:
    order = order_in(SR)
    assert order.cancel(reason="OutOfStock", now=T0)
    assert not order.cancel(reason="SomethingElse", now=T0 + timedelta(seconds=1))
    assert order.reason == "OutOfStock"
    assert order.timeline[-1].reason == "OutOfStock"
    assert order.events == [events.OrderCancelled(order.id, "OutOfStock")]


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501, "nul\x00"])
def test_cancel_needs_a_reason_of_sensible_length(reason: str) -> None:
    order = order_in(P)
    with pytest.raises(errors.OrderRejected):
        order.cancel(reason=reason, now=T0)
    assert order.phase is P
