"""Properties of the Payment aggregate over arbitrary sequences of changes (hypothesis).

Whatever the provider, webhooks and the saga throw at a payment, in any order and repeated:
it leaves pending at most once, it is refunded only after being authorized, final statuses
never move, and it raises exactly one event per real change.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from services.payments.domain import errors, events
from services.payments.domain.payment import Payment, Status

T0 = datetime(2030, 1, 1, tzinfo=UTC)
ALLOWED = {
    (Status.PENDING, Status.AUTHORIZED),
    (Status.PENDING, Status.FAILED),
    (Status.AUTHORIZED, Status.REFUNDED),
}

changes = st.sampled_from(["authorize", "fail", "refund", "await"])


def apply(payment: Payment, change: str) -> bool:
    match change:
        case "authorize":
            return payment.authorize("pi_x", now=T0)
        case "fail":
            return payment.fail("card_declined", decline_code="generic_decline", now=T0)
        case "refund":
            return payment.refund(now=T0)
        case _:
            return payment.await_confirmation("pi_x", now=T0)


@given(st.lists(changes, max_size=30))
def test_any_history_follows_the_status_graph(history: list[str]) -> None:
    payment = Payment.start(
        payment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        amount=500,
        currency="EUR",
        provider="simulated",
        now=T0,
    )
    statuses = [payment.status]
    real_changes = 0
    for change in history:
        before = payment.status
        try:
            changed = apply(payment, change)
        except errors.InvalidTransition:
            assert payment.status is before
            continue
        if payment.status is not before:
            assert (before, payment.status) in ALLOWED
            statuses.append(payment.status)
        if changed and change != "await":
            real_changes += 1
    assert len(payment.events) == real_changes == len(statuses) - 1
    kinds = [type(event) for event in payment.events]
    assert kinds.count(events.PaymentAuthorized) + kinds.count(events.PaymentFailed) <= 1
    if events.PaymentRefunded in kinds:
        assert kinds.index(events.PaymentAuthorized) < kinds.index(events.PaymentRefunded)
