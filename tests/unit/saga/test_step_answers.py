"""How the operator reads a service's answer to a step: success, a business refusal, or a
transient failure to retry. Table-driven, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from operators.saga import machine, steps
from operators.saga.clients import Answer
from operators.saga.machine import Reason, Step


def answer(status: int, **body: Any) -> Answer:
    return Answer(status, body)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (answer(200, orderId="o-1", phase="Pending"), machine.Succeeded(Step.VERIFY_ORDER)),
        (
            answer(404, type="/problems/order-not-found", detail="order o-1 does not exist"),
            Reason.UNKNOWN_ORDER,
        ),
        (
            answer(409, type="/problems/terms-differ", differences=["amount is 1 EUR, ..."]),
            Reason.ORDER_MISMATCH,
        ),
        (
            answer(422, type="/problems/validation", detail="amount too large"),
            Reason.ORDER_MISMATCH,
        ),
    ],
)
def test_orders_verdict_on_an_orders_terms(reply: Answer, expected: object) -> None:
    outcome = steps.read(Step.VERIFY_ORDER, reply)
    if isinstance(expected, machine.Succeeded):
        assert outcome == expected
        return
    assert isinstance(outcome, machine.Rejected)
    # The machine's default reason for a refused verification is UnknownOrder.
    assert (outcome.reason or Reason.UNKNOWN_ORDER) == expected


def test_a_mismatch_names_what_differs() -> None:
    reply = answer(409, differences=["paymentMethod differs from the order's"])
    outcome = steps.read(Step.VERIFY_ORDER, reply)
    assert isinstance(outcome, machine.Rejected)
    assert "paymentMethod differs" in outcome.message


@pytest.mark.parametrize("status", [429, 500, 503, 401, 403])
def test_orders_unable_to_answer_is_retried_not_a_verdict(status: int) -> None:
    assert isinstance(steps.read(Step.VERIFY_ORDER, answer(status)), machine.Unavailable)


# --- payments: a declined card (402) is not an invalid request (any other 4xx) ---------------
# The answers are payments' own (services/payments/entrypoints): 201/200 authorized, 202
# pending, 402 declined (/problems/payment-declined with a decline code), 422 for a body or
# amount it cannot take, 400 for a body it cannot read, 409 for a conflicting payment.


def payments_answer(status: int, **body: Any) -> machine.Outcome:
    return steps.read(Step.AUTHORIZE_PAYMENT, Answer(status, body))


def test_a_declined_card_is_a_rejection_with_the_default_reason() -> None:
    outcome = payments_answer(
        402, type="/problems/payment-declined", detail="Your card was declined.", declineCode="x"
    )
    assert outcome == machine.Rejected(
        Step.AUTHORIZE_PAYMENT, "HTTP 402: Your card was declined. (x)"
    )  # reason None: the machine's default for the step, PaymentDeclined


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(
            422,
            {
                "type": "/problems/invalid-request",
                "detail": "body.amount.value: Input should be less than or equal to 99999999",
            },
            id="422 amount over the money range",
        ),
        pytest.param(
            422,
            {"type": "/problems/invalid-payment", "detail": "currency must be three letters"},
            id="422 from the domain",
        ),
        pytest.param(400, {"type": "/problems/bad-request", "detail": "no JSON"}, id="400"),
        pytest.param(
            409, {"type": "/problems/payment-mismatch", "detail": "a payment of 5 EUR"}, id="409"
        ),
        pytest.param(413, {}, id="413 body too large"),
    ],
)
def test_a_refusal_that_is_not_a_decline_is_payment_invalid(
    status: int, body: dict[str, Any]
) -> None:
    outcome = payments_answer(status, **body)
    assert isinstance(outcome, machine.Rejected)
    assert outcome.reason == Reason.PAYMENT_INVALID
    assert str(outcome.reason) == "PaymentInvalid"  # what status.reason and orders will show
    assert outcome.message.startswith(f"HTTP {status}")
    assert body.get("detail", "") in outcome.message


def test_a_decline_code_on_an_invalid_answer_does_not_make_it_a_decline() -> None:
    outcome = payments_answer(422, detail="bad", declineCode="card_declined")
    assert outcome == machine.Rejected(
        Step.AUTHORIZE_PAYMENT, "HTTP 422: bad", Reason.PAYMENT_INVALID
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (201, machine.Succeeded(Step.AUTHORIZE_PAYMENT, "p-1")),
        (200, machine.Succeeded(Step.AUTHORIZE_PAYMENT, "p-1")),
        (202, machine.Pending(Step.AUTHORIZE_PAYMENT)),
        (503, machine.Unavailable(Step.AUTHORIZE_PAYMENT, "HTTP 503")),
        (502, machine.Unavailable(Step.AUTHORIZE_PAYMENT, "HTTP 502")),
        (429, machine.Unavailable(Step.AUTHORIZE_PAYMENT, "HTTP 429")),
        (401, machine.Unavailable(Step.AUTHORIZE_PAYMENT, "HTTP 401")),
    ],
)
def test_the_other_payment_answers_read_as_before(status: int, expected: machine.Outcome) -> None:
    assert payments_answer(status, paymentId="p-1") == expected


def test_an_invalid_answer_from_another_step_keeps_that_steps_reading() -> None:
    # Only the payment step tells a decline from an invalid request; inventory's 422 stays
    # a reservation rejection.
    outcome = steps.read(Step.RESERVE_STOCK, Answer(422, {"detail": "bad sku"}))
    assert outcome == machine.Rejected(
        Step.RESERVE_STOCK, "HTTP 422: bad sku", Reason.RESERVATION_REJECTED
    )
