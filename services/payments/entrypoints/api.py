"""The payments HTTP routes: the saga operator's internal commands and Stripe's webhook.

Routes only translate: they validate with ``schemas``, call one ``service_layer.handlers``
function with the process's ``Context`` (attached by bootstrap's lifespan), and render the
result; every error is rendered by ``errors.problem_for``. Status codes of ``POST /payments``:
201 authorized (200 when repeated), 202 pending (the provider waits for a webhook), 402
declined (problem+json ``/payment-declined`` with ``declineCode``), 409 compensated before or
a different amount, 503 with Retry-After when the provider is unavailable or its circuit open.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse

from services.payments.adapters import stripe_webhooks
from services.payments.adapters.unit_of_work import PaymentsUnitOfWork
from services.payments.domain import errors as domain_errors
from services.payments.domain.payment import Status
from services.payments.entrypoints import errors, schemas
from services.payments.service_layer import handlers
from services.payments.service_layer.ports import PaymentProvider


@dataclass(frozen=True)
class Context:
    """The process-wide collaborators the routes need; bootstrap builds and attaches it."""

    uow: Callable[[], PaymentsUnitOfWork]
    provider: PaymentProvider
    guard: handlers.Guard
    webhook_secret: str
    webhook_tolerance: timedelta
    on_commit: Callable[[], None] = field(default=lambda: None)  # wakes the outbox relay


def attach(app: FastAPI, context: Context) -> None:
    app.state.payments = context


def _context(request: Request) -> Context:
    context: Context | None = getattr(request.app.state, "payments", None)
    if context is None:
        raise RuntimeError("the payments API is used before its lifespan attached a Context")
    return context


ContextDep = Annotated[Context, Depends(_context)]
# The saga's correlation id, carried into the events; the order id when absent.
CorrelationId = Annotated[
    str | None,
    Header(alias="X-Correlation-ID", min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$"),
]

_PROBLEM: dict[str, Any] = {"application/problem+json": {"schema": {"type": "object"}}}


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "A body that cannot be read, or (webhook) not a verified provider event",
        401: "The service token is missing or wrong",
        402: "Declined: problem+json of type /problems/payment-declined, with declineCode",
        409: "Compensated before payment, or a different payment for this order",
        413: "The body is over the size limit",
        422: "The request is invalid",
        502: "The payment provider refused the call (configuration, not the card)",
        503: "The provider is unavailable or its circuit open; see Retry-After",
    }
    return {status: {"description": described[status], "content": _PROBLEM} for status in statuses}


internal = APIRouter(tags=["internal"])
webhooks = APIRouter(tags=["webhooks"])


@internal.post(
    "/payments",
    status_code=201,
    response_model=schemas.PaymentOut,
    responses={
        200: {"description": "A repeat: the stored payment", "model": schemas.PaymentOut},
        202: {"description": "Pending: a webhook will confirm it", "model": schemas.PaymentOut},
        **_responses(400, 401, 402, 409, 413, 422, 502, 503),
    },
    summary="Authorize an order's payment (saga operator; idempotent per order)",
)
async def create_payment(
    body: schemas.CreatePayment, context: ContextDep, correlation_id: CorrelationId = None
) -> Response:
    result = await handlers.authorize(
        uow=context.uow(),
        provider=context.provider,
        guard=context.guard,
        order_id=body.order_id,
        amount=body.amount.value,
        currency=body.amount.currency,
        payment_method=body.payment_method,
        correlation_id=correlation_id,
    )
    if result.created:
        context.on_commit()
    payment = result.payment
    if payment.status is Status.FAILED:
        return errors.problem_response(errors.declined(payment))
    status = {Status.PENDING: 202, Status.AUTHORIZED: 201 if result.created else 200}.get(
        payment.status, 200
    )
    return _json(schemas.payment_out(payment), status)


@internal.post(
    "/payments/{order_id}/refund",
    response_model=schemas.RefundOut,
    responses=_responses(400, 401, 413, 422, 502, 503),
    summary="Refund the order's payment, if any (saga compensation; idempotent)",
)
async def refund_payment(
    order_id: uuid.UUID, context: ContextDep, correlation_id: CorrelationId = None
) -> schemas.RefundOut:
    status = await handlers.refund(
        uow=context.uow(),
        provider=context.provider,
        guard=context.guard,
        order_id=order_id,
        correlation_id=correlation_id,
    )
    context.on_commit()
    return schemas.RefundOut(order_id=order_id, status=status)


@webhooks.post(
    "/payments/webhook",
    response_model=schemas.WebhookOut,
    responses=_responses(400, 413),
    summary="Stripe's webhook: payment_intent.succeeded / payment_failed / canceled",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A Stripe event, signed in the Stripe-Signature header",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def stripe_webhook(
    request: Request,
    context: ContextDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> schemas.WebhookOut:
    event = stripe_webhooks.verify(
        await request.body(),
        stripe_signature,
        secret=context.webhook_secret,
        tolerance=context.webhook_tolerance,
    )
    notice = stripe_webhooks.notice_of(event)
    if notice is None:
        return schemas.WebhookOut(result="ignored")
    result = await handlers.apply_notice(notice, uow=context.uow())
    if result == "applied":
        context.on_commit()
    return schemas.WebhookOut(result=result)


async def payments_error_handler(request: Request, error: Exception) -> Response:
    if not isinstance(error, domain_errors.PaymentsError):
        raise error
    return errors.problem_response(errors.problem_for(error))


def _json(body: schemas.Schema, status: int) -> JSONResponse:
    return JSONResponse(body.model_dump(mode="json", by_alias=True), status)
