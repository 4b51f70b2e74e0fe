"""Where every payments error becomes an HTTP answer: one table from error class to problem.

Looked up along the exception's class hierarchy (starlette-style), so a new subclass answers
like its parent until it gets its own row. The API's exception handler renders through
``problem_for``; a declined card, which is an outcome rather than an error, through
``declined``.
"""

from __future__ import annotations

import math
from typing import Any

from services.payments.domain import errors
from services.payments.domain.payment import Payment
from services.runtime.web import PROBLEM_BASE as PROBLEM_BASE
from services.runtime.web import Problem as Problem
from services.runtime.web import problem_response as problem_response

_TABLE: dict[type[errors.PaymentsError], tuple[int, str, str]] = {
    errors.InvalidPayment: (422, "invalid-payment", "The payment cannot be attempted"),
    errors.PaymentClosed: (409, "payment-closed", "The order was compensated before payment"),
    errors.PaymentMismatch: (409, "payment-mismatch", "The order has a different payment"),
    errors.InvalidTransition: (409, "payment-conflict", "The payment's status forbids this"),
    errors.PaymentConflict: (409, "payment-conflict", "The payment's status forbids this"),
    errors.PaymentBusy: (503, "payment-busy", "The payment is being processed"),
    errors.ProviderUnavailable: (
        503,
        "provider-unavailable",
        "The payment provider is unavailable",
    ),
    errors.ProviderRejected: (502, "provider-error", "The payment provider refused the call"),
    errors.InvalidWebhook: (400, "invalid-webhook", "Not a verified provider event"),
    errors.Unauthorized: (401, "unauthorized", "Service token required"),
    errors.PaymentsError: (400, "bad-request", "Bad request"),
}


def problem_for(error: errors.PaymentsError) -> Problem:
    status, kind, title = next(_TABLE[cls] for cls in type(error).__mro__ if cls in _TABLE)
    extensions: dict[str, Any] = {}
    headers: dict[str, str] = {}
    match error:
        case errors.InvalidPayment(problems=problems):
            extensions["problems"] = list(problems)
        case errors.ProviderUnavailable(retry_after=retry_after):
            headers["Retry-After"] = str(max(math.ceil(retry_after), 1))
        case errors.PaymentConflict(order_id=order_id):
            extensions["orderId"] = str(order_id)
        case errors.Unauthorized():
            headers["WWW-Authenticate"] = "Bearer"
    return Problem(status, PROBLEM_BASE + kind, title, str(error), extensions, headers)


def declined(payment: Payment) -> Problem:
    """The 402 for a failed payment (first answer and every repeat)."""
    detail = payment.message or f"the payment failed: {payment.failure_reason}"
    return Problem(
        402,
        PROBLEM_BASE + "payment-declined",
        "Payment declined",
        detail,
        {
            "orderId": str(payment.order_id),
            "paymentId": str(payment.id),
            "reason": payment.failure_reason,
            "declineCode": payment.decline_code,
            "provider": payment.provider,
            "providerReference": payment.provider_reference,
        },
    )
