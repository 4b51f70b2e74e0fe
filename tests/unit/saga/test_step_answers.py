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
