"""The payments use cases, one function each; the API routes and the webhook call them.

Each runs in one transaction that first takes the order's lock (``PaymentRepository.lock``),
so an authorization, a refund and a webhook for the same order never interleave, and ends by
committing the state change with the outbox rows of its events.

The provider is called while that transaction is open. That holds one pooled connection per
payment in flight (bounded by the provider timeout and the retry budget), and buys the
simplest correct story for the races that matter: a repeated POST waits for the first and
returns its stored outcome; a compensation racing a late authorization sees either the
payment (and refunds it) or nothing (and leaves a tombstone the authorization then respects).

The crash window. If the provider approved but our commit fails (database gone, process
killed), nothing is stored and the operator's retry of ``POST /payments`` calls the provider
again. It sends the same idempotency key (``authorize-<orderId>``), so Stripe answers with
the first PaymentIntent instead of charging twice (the simulator keeps keys the same way), and
this time the outcome is stored. A webhook that arrived in between found no payment and was
acknowledged; nothing is lost, since the retried call returns the intent's current state.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol, TypeVar

from services.payments.adapters.unit_of_work import PaymentsUnitOfWork
from services.payments.domain import errors, money, notices, outcomes
from services.payments.domain.payment import Compensation, Payment, Status
from services.payments.service_layer import messages, ports
from services.payments.service_layer.metrics import (
    PAYMENT_FAILURES,
    PAYMENT_OUTCOMES,
    WEBHOOK_NOTICES,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Guard(Protocol):
    """Runs a provider call with retries and the circuit breaker (``guard.ProviderGuard``)."""

    async def __call__(self, operation: str, fn: Callable[[], Awaitable[T]]) -> T: ...


@dataclass(frozen=True)
class Authorization:
    payment: Payment
    created: bool  # False: a repeat, answered from the stored payment


RefundStatus = Literal["refunded", "nothing_to_refund"]
NoticeResult = Literal["applied", "unchanged", "duplicate", "unknown_payment", "conflict"]


def _now() -> datetime:
    return datetime.now(UTC)


async def authorize(
    *,
    uow: PaymentsUnitOfWork,
    provider: ports.PaymentProvider,
    guard: Guard,
    order_id: uuid.UUID,
    amount: int,
    currency: str,
    payment_method: str,
    correlation_id: str | None = None,
) -> Authorization:
    """Authorize the order's payment once; repeats answer with the stored outcome.

    Raises ``InvalidPayment`` (bad money), ``PaymentMismatch`` (a repeat with another amount),
    ``PaymentClosed`` (compensated before), ``ProviderUnavailable`` (try again later).
    """
    found = money.problems(amount, currency)
    if found:
        raise errors.InvalidPayment(found)
    async with uow:
        await uow.payments.lock(order_id)
        stored = await uow.payments.get(order_id)
        if stored is not None:
            if not stored.matches(amount, currency):
                raise errors.PaymentMismatch(
                    order_id,
                    money.describe(stored.amount, stored.currency),
                    money.describe(amount, currency),
                )
            return Authorization(stored, created=False)
        if await uow.payments.is_tombstoned(order_id):
            raise errors.PaymentClosed(order_id)
        payment = Payment.start(
            payment_id=uuid.uuid4(),
            order_id=order_id,
            amount=amount,
            currency=currency,
            provider=provider.name,
            now=_now(),
        )
        outcome = await guard(
            "authorize",
            lambda: provider.authorize(
                order_id=order_id,
                amount=amount,
                currency=currency,
                payment_method=payment_method,
                idempotency_key=ports.authorize_key(order_id),
            ),
        )
        payment.settle(outcome, now=_now())
        await uow.payments.add(payment)
        _emit(uow, payment, correlation_id)
        await uow.commit()
    PAYMENT_OUTCOMES.labels(status=payment.status.value).inc()
    if payment.status is Status.FAILED:
        PAYMENT_FAILURES.labels(reason=payment.decline_code or payment.failure_reason).inc()
    return Authorization(payment, created=True)


async def refund(
    *,
    uow: PaymentsUnitOfWork,
    provider: ports.PaymentProvider,
    guard: Guard,
    order_id: uuid.UUID,
    correlation_id: str | None = None,
) -> RefundStatus:
    """Undo the order's payment (the saga's compensation); safe to repeat.

    Authorized: refunded at the provider (``payment.refunded``). Pending at the provider:
    canceled there (``payment.failed``, reason ``canceled``), or refunded if it succeeded
    meanwhile. Failed or refunded: nothing to do. No payment yet: a tombstone is left, so an
    authorization arriving after its compensation is refused.
    """
    async with uow:
        await uow.payments.lock(order_id)
        payment = await uow.payments.get(order_id)
        if payment is None:
            await uow.payments.add_tombstone(order_id)
            await uow.commit()
            logger.info("nothing to refund for order %s; tombstone left", order_id)
            return "nothing_to_refund"
        match payment.compensation:
            case Compensation.NOTHING:
                return "nothing_to_refund"
            case Compensation.ALREADY_REFUNDED:
                return "refunded"
            case Compensation.CANCEL:
                result = await _cancel(uow, provider, guard, payment)
            case Compensation.REFUND:
                await _refund(provider, guard, payment)
                result = "refunded"
        await uow.payments.save(payment)
        _emit(uow, payment, correlation_id)
        await uow.commit()
    return result


async def _cancel(
    uow: PaymentsUnitOfWork, provider: ports.PaymentProvider, guard: Guard, payment: Payment
) -> RefundStatus:
    reference = _reference(payment)
    outcome = await guard(
        "cancel",
        lambda: provider.cancel(
            order_id=payment.order_id,
            reference=reference,
            idempotency_key=ports.cancel_key(payment.order_id),
        ),
    )
    if isinstance(outcome, outcomes.Canceled):
        payment.fail("canceled", message="canceled by compensation", now=_now())
        PAYMENT_FAILURES.labels(reason="canceled").inc()
        return "nothing_to_refund"
    # It succeeded before the cancel landed: the money moved, so give it back.
    payment.authorize(outcome.reference, now=_now())
    await _refund(provider, guard, payment)
    return "refunded"


async def _refund(provider: ports.PaymentProvider, guard: Guard, payment: Payment) -> None:
    reference = _reference(payment)
    await guard(
        "refund",
        lambda: provider.refund(
            order_id=payment.order_id,
            reference=reference,
            amount=payment.amount,
            currency=payment.currency,
            idempotency_key=ports.refund_key(payment.order_id),
        ),
    )
    payment.refund(now=_now())


async def apply_notice(
    notice: notices.Notice, *, uow: PaymentsUnitOfWork, correlation_id: str | None = None
) -> NoticeResult:
    """Apply a verified provider event to its payment, once per provider event id.

    The payment is found by the order id in the intent's metadata, else by the intent id.
    An event for an intent we hold no payment for is acknowledged and logged, not an error:
    it may belong to another system on the same account, or to an authorization whose commit
    failed (its retry reads the intent's state from the provider anyway).
    """
    result = await _apply_notice(notice, uow=uow, correlation_id=correlation_id)
    WEBHOOK_NOTICES.labels(result=result).inc()
    return result


async def _apply_notice(
    notice: notices.Notice, *, uow: PaymentsUnitOfWork, correlation_id: str | None
) -> NoticeResult:
    async with uow:
        if not await uow.webhooks.record(notice.event_id, notice.event_type):
            logger.info("webhook event %s was already processed", notice.event_id)
            return "duplicate"
        order_id = notice.order_id or await uow.payments.order_of(notice.reference)
        payment = None
        if order_id is not None:
            await uow.payments.lock(order_id)
            payment = await uow.payments.get(order_id)
        if payment is None or payment.provider_reference not in (None, notice.reference):
            await uow.commit()
            logger.warning(
                "webhook event %s (%s) is about intent %s, which has no payment here",
                notice.event_id,
                notice.event_type,
                notice.reference,
            )
            return "unknown_payment"
        await uow.webhooks.attach(notice.event_id, payment.order_id)
        try:
            changed = _settle_from_notice(payment, notice)
        except errors.InvalidTransition as e:
            await uow.commit()
            logger.warning("webhook event %s ignored: %s", notice.event_id, e)
            return "conflict"
        if changed:
            await uow.payments.save(payment)
            _emit(uow, payment, correlation_id or str(payment.order_id), notice.event_id)
        await uow.commit()
    if changed:
        PAYMENT_OUTCOMES.labels(status=payment.status.value).inc()
        if payment.status is Status.FAILED:
            PAYMENT_FAILURES.labels(reason=payment.decline_code or payment.failure_reason).inc()
    return "applied" if changed else "unchanged"


def _settle_from_notice(payment: Payment, notice: notices.Notice) -> bool:
    match notice.verdict:
        case notices.Verdict.SUCCEEDED:
            return payment.authorize(notice.reference, now=_now())
        case notices.Verdict.FAILED:
            return payment.fail(
                "card_declined",
                decline_code=notice.decline_code,
                message=notice.message,
                reference=notice.reference,
                now=_now(),
            )
        case notices.Verdict.CANCELED:
            return payment.fail(
                "canceled", message=notice.message, reference=notice.reference, now=_now()
            )


def _reference(payment: Payment) -> str:
    if payment.provider_reference is None:
        raise AssertionError(f"payment {payment.id} is {payment.status} without a reference")
    return payment.provider_reference


def _emit(
    uow: PaymentsUnitOfWork,
    payment: Payment,
    correlation_id: str | None,
    causation_id: str | None = None,
) -> None:
    for event in payment.events:
        uow.emit(
            messages.payment_event(
                payment,
                event,
                correlation_id=correlation_id or str(payment.order_id),
                causation_id=causation_id,
            )
        )
    payment.events.clear()
