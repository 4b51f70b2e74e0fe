"""The Payment aggregate's status rules, table-driven over every status x every change.

The expected results are written out by hand (not computed by the rule under test):
pending leaves once (to authorized or failed), authorized may become refunded, failed and
refunded are final, a repeated change is a no-op without an event, a forbidden one raises.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from services.payments.domain import errors, events, outcomes
from services.payments.domain.payment import Compensation, Payment, Status

T0 = datetime(2030, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(seconds=3)
PENDING, AUTHORIZED, FAILED, REFUNDED = (
    Status.PENDING,
    Status.AUTHORIZED,
    Status.FAILED,
    Status.REFUNDED,
)


def payment_in(status: Status, reference: str | None = "pi_1") -> Payment:
    return Payment(
        id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        amount=1999,
        currency="EUR",
        provider="simulated",
        created_at=T0,
        updated_at=T0,
        status=status,
        provider_reference=reference,
    )


Change = Callable[[Payment], bool]
CHANGES: dict[str, Change] = {
    "authorize": lambda p: p.authorize("pi_1", now=T1),
    "fail": lambda p: p.fail("card_declined", decline_code="insufficient_funds", now=T1),
    "refund": lambda p: p.refund(now=T1),
    "await": lambda p: p.await_confirmation("pi_2", now=T1),
}

RAISES = "raises"
# change -> {status before: (status after, event type) | RAISES}; event None = no-op.
EXPECTED: dict[str, dict[Status, tuple[Status, type[events.PaymentEvent] | None] | str]] = {
    "authorize": {
        PENDING: (AUTHORIZED, events.PaymentAuthorized),
        AUTHORIZED: (AUTHORIZED, None),
        FAILED: RAISES,
        REFUNDED: RAISES,
    },
    "fail": {
        PENDING: (FAILED, events.PaymentFailed),
        AUTHORIZED: RAISES,
        FAILED: (FAILED, None),
        REFUNDED: RAISES,
    },
    "refund": {
        PENDING: RAISES,
        AUTHORIZED: (REFUNDED, events.PaymentRefunded),
        FAILED: RAISES,
        REFUNDED: (REFUNDED, None),
    },
    "await": {
        PENDING: (PENDING, None),
        AUTHORIZED: RAISES,
        FAILED: RAISES,
        REFUNDED: RAISES,
    },
}


def test_the_table_covers_every_change_and_status() -> None:
    assert set(EXPECTED) == set(CHANGES)
    assert all(set(row) == set(Status) for row in EXPECTED.values())


@pytest.mark.parametrize(
    ("change", "before"), [(change, status) for change in CHANGES for status in Status]
)
def test_status_change(change: str, before: Status) -> None:
    payment = payment_in(before)
    expected = EXPECTED[change][before]
    if expected == RAISES:
        with pytest.raises(errors.InvalidTransition) as raised:
            CHANGES[change](payment)
        assert raised.value.order_id == payment.order_id
        assert (payment.status, payment.events, payment.updated_at) == (before, [], T0)
        return
    assert isinstance(expected, tuple)
    after, event_type = expected
    changed = CHANGES[change](payment)
    assert payment.status is after
    if event_type is None and change != "await":
        assert (changed, payment.events, payment.updated_at) == (False, [], T0)
    elif event_type is not None:
        assert changed is True
        assert [type(e) for e in payment.events] == [event_type]
        assert payment.events[0].order_id == payment.order_id
        assert payment.updated_at == T1


def test_awaiting_confirmation_remembers_the_reference_once() -> None:
    payment = payment_in(PENDING, reference=None)
    assert payment.await_confirmation("pi_9", now=T1) is True
    assert payment.provider_reference == "pi_9"
    assert payment.await_confirmation("pi_9", now=T1) is False
    assert payment.events == []  # pending is not news for the saga


def test_a_failure_records_why_and_truncates_to_the_contract() -> None:
    payment = payment_in(PENDING)
    payment.fail("r" * 300, decline_code="c" * 300, message="m" * 900, reference="pi_7", now=T1)
    assert (len(payment.failure_reason or ""), len(payment.decline_code or "")) == (100, 100)
    assert len(payment.message) == 500
    assert payment.provider_reference == "pi_7"
    [event] = payment.events
    assert isinstance(event, events.PaymentFailed)
    assert (event.reason, event.decline_code, event.message) == (
        payment.failure_reason,
        payment.decline_code,
        payment.message,
    )


@pytest.mark.parametrize(
    ("outcome", "status", "reference", "decline_code"),
    [
        (outcomes.Authorized("pi_a"), AUTHORIZED, "pi_a", None),
        (outcomes.Pending("pi_p"), PENDING, "pi_p", None),
        (
            outcomes.Declined("insufficient_funds", "no", "pi_d"),
            FAILED,
            "pi_d",
            "insufficient_funds",
        ),
        (outcomes.Declined("expired_card"), FAILED, None, "expired_card"),
    ],
)
def test_settle_applies_the_providers_answer(
    outcome: outcomes.AuthorizationOutcome,
    status: Status,
    reference: str | None,
    decline_code: str | None,
) -> None:
    payment = payment_in(PENDING, reference=None)
    payment.settle(outcome, now=T1)
    assert (payment.status, payment.provider_reference, payment.decline_code) == (
        status,
        reference,
        decline_code,
    )
    if status is FAILED:
        assert payment.failure_reason == "card_declined"


@pytest.mark.parametrize(
    ("status", "compensation", "final"),
    [
        (PENDING, Compensation.CANCEL, False),
        (AUTHORIZED, Compensation.REFUND, False),
        (FAILED, Compensation.NOTHING, True),
        (REFUNDED, Compensation.ALREADY_REFUNDED, True),
    ],
)
def test_what_compensation_takes(status: Status, compensation: Compensation, final: bool) -> None:
    payment = payment_in(status)
    assert (payment.compensation, payment.final) == (compensation, final)


@pytest.mark.parametrize(
    ("amount", "currency"),
    [(0, "EUR"), (-1, "EUR"), (100_000_000, "EUR"), (True, "EUR"), (100, "eur"), (100, "EURO")],
)
def test_start_refuses_bad_money(amount: int, currency: str) -> None:
    with pytest.raises(errors.InvalidPayment):
        Payment.start(
            payment_id=uuid.uuid4(),
            order_id=uuid.uuid4(),
            amount=amount,
            currency=currency,
            provider="simulated",
            now=T0,
        )


def test_start_makes_a_pending_payment_without_events() -> None:
    payment = Payment.start(
        payment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        amount=1,
        currency="JPY",
        provider="stripe",
        now=T0,
    )
    assert (payment.status, payment.events, payment.provider_reference) == (PENDING, [], None)
    assert payment.matches(1, "JPY") and not payment.matches(2, "JPY")
    assert not payment.matches(1, "EUR")
