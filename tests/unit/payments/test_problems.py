"""Every payments error has its problem answer; a declined payment its 402."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.payments.domain import errors
from services.payments.domain.payment import Payment, Status
from services.payments.entrypoints import errors as problems

ORDER = uuid.uuid4()


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (errors.InvalidPayment(["amount must be 1 to 99999999"]), 422, "invalid-payment"),
        (errors.PaymentClosed(ORDER), 409, "payment-closed"),
        (errors.PaymentMismatch(ORDER, "1 EUR", "2 EUR"), 409, "payment-mismatch"),
        (errors.InvalidTransition(ORDER, "failed", "refund"), 409, "payment-conflict"),
        (errors.PaymentBusy(ORDER), 503, "payment-busy"),
        (errors.ProviderUnavailable("down", retry_after=2.2), 503, "provider-unavailable"),
        (errors.ProviderRejected("bad key"), 502, "provider-error"),
        (errors.InvalidWebhook("no signature"), 400, "invalid-webhook"),
        (errors.Unauthorized("no token"), 401, "unauthorized"),
    ],
)
def test_problem_for(error: errors.PaymentsError, status: int, kind: str) -> None:
    problem = problems.problem_for(error)
    assert (problem.status, problem.type) == (status, f"/problems/{kind}")
    assert problem.detail == str(error)


def test_unavailable_says_when_to_come_back_in_whole_seconds() -> None:
    problem = problems.problem_for(errors.ProviderUnavailable("down", retry_after=2.2))
    assert problem.headers == {"Retry-After": "3"}
    tiny = problems.problem_for(errors.ProviderUnavailable("down", retry_after=0.001))
    assert tiny.headers == {"Retry-After": "1"}


def test_declined() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    payment = Payment(
        id=uuid.uuid4(),
        order_id=ORDER,
        amount=100,
        currency="EUR",
        provider="simulated",
        created_at=now,
        updated_at=now,
        status=Status.FAILED,
        provider_reference="pi_1",
        failure_reason="card_declined",
        decline_code="insufficient_funds",
        message="Your card has insufficient funds.",
    )
    problem = problems.declined(payment)
    assert (problem.status, problem.type) == (402, "/problems/payment-declined")
    assert problem.extensions["declineCode"] == "insufficient_funds"
    assert problem.extensions["orderId"] == str(ORDER)
    response = problems.problem_response(problem)
    assert response.media_type == "application/problem+json"
