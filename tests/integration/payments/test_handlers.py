"""The payments use cases on a real Postgres: stored outcomes, outbox events, idempotency.

The provider is the simulated one (our own code, so counting its calls proves a repeat did
not reach it); Stripe's own behaviour is covered against stripe-mock in test_stripe_provider.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.payments.adapters import tables
from services.payments.adapters.simulated import SimulatedProvider
from services.payments.adapters.unit_of_work import PaymentsUnitOfWork
from services.payments.domain import errors, notices
from services.payments.domain.payment import Status
from services.payments.service_layer import handlers
from services.payments.service_layer.guard import ProviderGuard
from services.runtime import events as contracts
from tests.integration.payments.support import (
    FlakyProvider,
    events_for,
    fast_retries,
    payment_row,
)

pytestmark = pytest.mark.platform

UowFactory = Callable[[], PaymentsUnitOfWork]
GUARD = ProviderGuard(fast_retries())


async def authorize(
    uow: UowFactory,
    provider: SimulatedProvider,
    order_id: uuid.UUID,
    payment_method: str = "pm_card_visa",
    amount: int = 1999,
    currency: str = "EUR",
) -> handlers.Authorization:
    return await handlers.authorize(
        uow=uow(),
        provider=provider,
        guard=GUARD,
        order_id=order_id,
        amount=amount,
        currency=currency,
        payment_method=payment_method,
        correlation_id=f"corr-{order_id}",
    )


async def refund(uow: UowFactory, provider: SimulatedProvider, order_id: uuid.UUID) -> str:
    return await handlers.refund(uow=uow(), provider=provider, guard=GUARD, order_id=order_id)


async def test_an_approved_payment_is_stored_with_its_event(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    provider, order_id = SimulatedProvider(), uuid.uuid4()
    result = await authorize(uow, provider, order_id)
    assert result.created and result.payment.status is Status.AUTHORIZED
    row = await payment_row(engine, order_id)
    assert (row.status, row.amount, row.currency, row.provider) == (
        "authorized",
        1999,
        "EUR",
        "simulated",
    )
    assert row.provider_reference == result.payment.provider_reference
    [event] = await events_for(engine, order_id)
    assert isinstance(event.payload, contracts.PaymentAuthorized)
    assert event.payload.payment_id == result.payment.id
    assert event.payload.amount == contracts.Money(value=1999, currency="EUR")
    assert event.payload.provider_reference == row.provider_reference
    assert (event.correlation_id, event.topic) == (f"corr-{order_id}", contracts.PAYMENTS_TOPIC)


async def test_a_repeat_returns_the_stored_outcome_without_calling_the_provider(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    provider, order_id = SimulatedProvider(), uuid.uuid4()
    first = await authorize(uow, provider, order_id, "pm_card_chargeDeclinedInsufficientFunds")
    again = await authorize(uow, provider, order_id, "pm_card_chargeDeclinedInsufficientFunds")
    assert first.created and not again.created
    assert again.payment.id == first.payment.id
    assert (again.payment.status, again.payment.decline_code) == (
        Status.FAILED,
        "insufficient_funds",
    )
    assert provider.calls["authorize"] == 1
    [event] = await events_for(engine, order_id)
    assert isinstance(event.payload, contracts.PaymentFailed)
    assert (event.payload.reason, event.payload.decline_code) == (
        "card_declined",
        "insufficient_funds",
    )


async def test_concurrent_requests_for_one_order_reach_the_provider_once(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    provider = SimulatedProvider(latency=timedelta(milliseconds=200))
    order_id = uuid.uuid4()
    results = await asyncio.gather(*(authorize(uow, provider, order_id) for _ in range(5)))
    assert provider.calls["authorize"] == 1
    assert len({r.payment.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert len(await events_for(engine, order_id)) == 1


async def test_a_repeat_with_another_amount_is_a_conflict(uow: UowFactory) -> None:
    provider, order_id = SimulatedProvider(), uuid.uuid4()
    await authorize(uow, provider, order_id, amount=1000)
    with pytest.raises(errors.PaymentMismatch, match="1000 EUR, not 1001 EUR"):
        await authorize(uow, provider, order_id, amount=1001)
    with pytest.raises(errors.PaymentMismatch):
        await authorize(uow, provider, order_id, amount=1000, currency="USD")
    assert provider.calls["authorize"] == 1


@pytest.mark.parametrize(
    ("amount", "currency"), [(0, "EUR"), (-1, "EUR"), (10**9, "EUR"), (5, "eur")]
)
async def test_bad_money_never_reaches_the_provider(
    uow: UowFactory, engine: AsyncEngine, amount: int, currency: str
) -> None:
    provider, order_id = SimulatedProvider(), uuid.uuid4()
    with pytest.raises(errors.InvalidPayment):
        await authorize(uow, provider, order_id, amount=amount, currency=currency)
    assert provider.calls["authorize"] == 0
    assert await payment_row(engine, order_id) is None


async def test_the_crash_window_is_closed_by_the_providers_idempotency_key(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    """Provider approved, our commit failed: the retry asks again with the same key."""

    class CommitFails(PaymentsUnitOfWork):
        async def commit(self) -> None:
            raise ConnectionResetError("database went away (test)")

    sessions = uow()._sessions
    provider, order_id = SimulatedProvider(), uuid.uuid4()
    with pytest.raises(ConnectionResetError):
        await handlers.authorize(
            uow=CommitFails(sessions),
            provider=provider,
            guard=GUARD,
            order_id=order_id,
            amount=500,
            currency="EUR",
            payment_method="pm_card_visa",
        )
    assert await payment_row(engine, order_id) is None
    first_reference = provider._answers[f"authorize-{order_id}"]
    retried = await authorize(uow, provider, order_id, amount=500)
    assert provider.calls["authorize"] == 2
    assert retried.payment.provider_reference == getattr(first_reference, "reference", None)
    assert len(await events_for(engine, order_id)) == 1


async def test_transient_failures_are_retried(uow: UowFactory) -> None:
    provider, order_id = FlakyProvider(failures=2), uuid.uuid4()
    result = await authorize(uow, provider, order_id)
    assert result.payment.status is Status.AUTHORIZED
    assert provider.attempts == 3


async def test_an_unavailable_provider_stores_nothing(uow: UowFactory, engine: AsyncEngine) -> None:
    provider, order_id = FlakyProvider(), uuid.uuid4()
    with pytest.raises(errors.ProviderUnavailable):
        await authorize(uow, provider, order_id)
    assert provider.attempts == 3
    assert await payment_row(engine, order_id) is None
    assert await events_for(engine, order_id) == []


async def test_refunding_an_authorized_payment_once(uow: UowFactory, engine: AsyncEngine) -> None:
    provider, order_id = SimulatedProvider(), uuid.uuid4()
    await authorize(uow, provider, order_id)
    assert await refund(uow, provider, order_id) == "refunded"
    assert await refund(uow, provider, order_id) == "refunded"
    assert provider.calls["refund"] == 1
    assert (await payment_row(engine, order_id)).status == "refunded"
    kinds = [type(e.payload) for e in await events_for(engine, order_id)]
    assert kinds == [contracts.PaymentAuthorized, contracts.PaymentRefunded]


async def test_nothing_to_refund_for_a_failed_payment(uow: UowFactory, engine: AsyncEngine) -> None:
    provider, order_id = SimulatedProvider(), uuid.uuid4()
    await authorize(uow, provider, order_id, "pm_card_chargeDeclined")
    assert await refund(uow, provider, order_id) == "nothing_to_refund"
    assert provider.calls["refund"] == 0
    assert (await payment_row(engine, order_id)).status == "failed"
    assert len(await events_for(engine, order_id)) == 1


async def test_refunding_an_unknown_order_leaves_a_tombstone(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    provider, order_id = SimulatedProvider(), uuid.uuid4()
    assert await refund(uow, provider, order_id) == "nothing_to_refund"
    assert await refund(uow, provider, order_id) == "nothing_to_refund"
    with pytest.raises(errors.PaymentClosed):
        await authorize(uow, provider, order_id)
    assert provider.calls["authorize"] == 0
    assert await payment_row(engine, order_id) is None
    async with engine.connect() as conn:
        tombstones = await conn.scalar(
            select(tables.payment_tombstones.c.order_id).where(
                tables.payment_tombstones.c.order_id == order_id
            )
        )
    assert tombstones == order_id


async def test_a_compensation_racing_an_authorization_refunds_it(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    provider = SimulatedProvider(latency=timedelta(milliseconds=300))
    order_id = uuid.uuid4()
    authorizing = asyncio.create_task(authorize(uow, provider, order_id))
    await asyncio.sleep(0.1)  # the authorization holds the order's lock, its provider call out
    assert await refund(uow, provider, order_id) == "refunded"
    assert (await authorizing).payment.status is Status.AUTHORIZED
    assert (await payment_row(engine, order_id)).status == "refunded"


async def test_compensating_a_pending_payment_cancels_it(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    provider, order_id = SimulatedProvider(), uuid.uuid4()
    pending = await authorize(uow, provider, order_id, "pm_card_authenticationRequired")
    assert pending.payment.status is Status.PENDING
    assert await events_for(engine, order_id) == []  # pending is not an event
    assert await refund(uow, provider, order_id) == "nothing_to_refund"
    assert provider.calls["cancel"] == 1
    row = await payment_row(engine, order_id)
    assert (row.status, row.failure_reason) == ("failed", "canceled")
    [event] = await events_for(engine, order_id)
    assert isinstance(event.payload, contracts.PaymentFailed)
    assert event.payload.reason == "canceled"


def notice(
    verdict: notices.Verdict,
    reference: str,
    order_id: uuid.UUID | None,
    event_id: str | None = None,
) -> notices.Notice:
    return notices.Notice(
        event_id=event_id or f"evt_{uuid.uuid4().hex}",
        event_type=f"payment_intent.{verdict}",
        verdict=verdict,
        reference=reference,
        order_id=order_id,
        decline_code="insufficient_funds" if verdict is notices.Verdict.FAILED else None,
    )


async def pending_payment(uow: UowFactory) -> tuple[uuid.UUID, str]:
    order_id = uuid.uuid4()
    result = await authorize(uow, SimulatedProvider(), order_id, "pm_card_authenticationRequired")
    assert result.payment.provider_reference is not None
    return order_id, result.payment.provider_reference


async def test_a_notice_settles_a_pending_payment_once(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    order_id, reference = await pending_payment(uow)
    succeeded = notice(notices.Verdict.SUCCEEDED, reference, order_id, "evt_once_" + reference)
    assert await handlers.apply_notice(succeeded, uow=uow()) == "applied"
    assert await handlers.apply_notice(succeeded, uow=uow()) == "duplicate"
    again = notice(notices.Verdict.SUCCEEDED, reference, order_id)  # Stripe sent a second event
    assert await handlers.apply_notice(again, uow=uow()) == "unchanged"
    [event] = await events_for(engine, order_id)
    assert isinstance(event.payload, contracts.PaymentAuthorized)
    assert event.causation_id == "evt_once_" + reference


async def test_a_notice_without_order_id_finds_the_payment_by_reference(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    order_id, reference = await pending_payment(uow)
    failed = notice(notices.Verdict.FAILED, reference, None)
    assert await handlers.apply_notice(failed, uow=uow()) == "applied"
    row = await payment_row(engine, order_id)
    assert (row.status, row.decline_code) == ("failed", "insufficient_funds")


async def test_a_contradicting_notice_changes_nothing(uow: UowFactory, engine: AsyncEngine) -> None:
    order_id, reference = await pending_payment(uow)
    await handlers.apply_notice(notice(notices.Verdict.CANCELED, reference, order_id), uow=uow())
    late = notice(notices.Verdict.SUCCEEDED, reference, order_id)
    assert await handlers.apply_notice(late, uow=uow()) == "conflict"
    assert (await payment_row(engine, order_id)).status == "failed"
    assert len(await events_for(engine, order_id)) == 1


async def test_a_notice_for_an_unknown_intent_is_acknowledged(uow: UowFactory) -> None:
    stranger = notice(notices.Verdict.SUCCEEDED, f"pi_{random.getrandbits(64):x}", None)
    assert await handlers.apply_notice(stranger, uow=uow()) == "unknown_payment"
    unknown_order = notice(notices.Verdict.SUCCEEDED, "pi_other", uuid.uuid4())
    assert await handlers.apply_notice(unknown_order, uow=uow()) == "unknown_payment"
    assert await handlers.apply_notice(unknown_order, uow=uow()) == "duplicate"


async def test_concurrent_deliveries_of_one_event_have_one_effect(
    uow: UowFactory, engine: AsyncEngine
) -> None:
    order_id, reference = await pending_payment(uow)
    delivered = notice(notices.Verdict.SUCCEEDED, reference, order_id)
    results = await asyncio.gather(*(handlers.apply_notice(delivered, uow=uow()) for _ in range(4)))
    assert sorted(results) == ["applied", "duplicate", "duplicate", "duplicate"]
    assert len(await events_for(engine, order_id)) == 1
