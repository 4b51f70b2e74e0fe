"""One function per saga step: call the owning service, read its answer as a machine outcome.

Every step is idempotent on the service's side (keyed by the order id), so running one again
after a crash or a lost reply returns the stored result and takes nothing twice. How an
answer reads: 2xx is success (202 from payments: waiting for the customer); a problem the
service gives for the business (409 out of stock, 402 declined) is a rejection; no answer,
429 or 5xx is transient; 401/403 is our misconfiguration, retried (and logged) until fixed.
Payments refuses two ways, told apart here: 402 is a declined card (PaymentDeclined); any
other 4xx (422 or 400: an amount or field it cannot take; 409: a conflicting payment) took
no card at all and reads as PaymentInvalid, so a request bug is never reported as a decline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from operators.saga import machine
from operators.saga.clients import Answer, Services, ServiceUnreachable
from operators.saga.machine import Step

OUT_OF_STOCK = "/problems/out-of-stock"
DECLINED = 402  # payments' answer for a declined card, and only for that


@dataclass(frozen=True)
class OrderSpec:
    """The parts of ``Order.spec`` the steps send."""

    order_id: str
    customer_id: str
    items: list[dict[str, Any]]
    amount: dict[str, Any]
    payment_method: str

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> OrderSpec:
        return cls(
            order_id=spec["orderId"],
            customer_id=spec["customerId"],
            items=[dict(item) for item in spec["items"]],
            amount=dict(spec["amount"]),
            payment_method=spec["paymentMethod"],
        )


StepFn = Callable[[Services, OrderSpec, "str | None", str], Awaitable[Answer]]


async def run(
    step: Step, services: Services, order: OrderSpec, *, correlation_id: str | None, reason: str
) -> machine.Outcome:
    """Perform ``step`` once; ``reason`` is the saga's failure reason (for compensations)."""
    try:
        answer = await _CALLS[step](services, order, correlation_id, reason)
    except ServiceUnreachable as e:
        return machine.Unavailable(step, str(e))
    return read(step, answer)


def read(step: Step, answer: Answer) -> machine.Outcome:
    """The outcome an answer means for ``step``."""
    status = answer.status
    if status == 429 or status >= 500 or status in (401, 403):
        return machine.Unavailable(step, answer.problem)
    if step is Step.VERIFY_ORDER:
        if 200 <= status < 300:
            return machine.Succeeded(step)
        if status == 404:
            return machine.Rejected(step, f"orders never placed this order ({answer.problem})")
        # 409: placed on other terms; 422: terms no order could have (out of range)
        return machine.Rejected(step, _differences(answer), machine.Reason.ORDER_MISMATCH)
    if step is Step.RESERVE_STOCK:
        if status in (200, 201):
            return machine.Succeeded(step, str(answer.body.get("reservationId", "")) or None)
        if answer.body.get("type", "").endswith(OUT_OF_STOCK):
            return machine.Rejected(step, _shortages(answer))
        return machine.Rejected(step, answer.problem, machine.Reason.RESERVATION_REJECTED)
    if step is Step.AUTHORIZE_PAYMENT:
        if status in (200, 201):
            return machine.Succeeded(step, str(answer.body.get("paymentId", "")) or None)
        if status == 202:
            return machine.Pending(step)
        if status != DECLINED:
            return machine.Rejected(step, answer.problem, machine.Reason.PAYMENT_INVALID)
        code = answer.body.get("declineCode")
        return machine.Rejected(step, f"{answer.problem} ({code})" if code else answer.problem)
    if step is Step.CANCEL_ORDER and status == 404:
        # Orders never heard of it (an Order made by hand): there is nothing to cancel.
        return machine.Succeeded(step)
    if 200 <= status < 300:
        return machine.Succeeded(step)
    return machine.Rejected(step, answer.problem)


def _differences(answer: Answer) -> str:
    found = answer.body.get("differences")
    if isinstance(found, list) and found:
        return "the order was placed on other terms: " + "; ".join(str(d) for d in found)
    return answer.problem


def _shortages(answer: Answer) -> str:
    lines = answer.body.get("lines") or []
    parts = [
        f"{line.get('sku')}: {line.get('requested')} requested, {line.get('available')} left"
        for line in lines
        if isinstance(line, dict)
    ]
    return "out of stock: " + "; ".join(parts) if parts else answer.problem


async def _verify(services: Services, order: OrderSpec, cid: str | None, _: str) -> Answer:
    path = f"/orders/{order.order_id}/verify"
    terms = {
        "customerId": order.customer_id,
        "items": [
            {"sku": i["sku"], "quantity": i["quantity"], "unitPrice": i["unitPrice"]}
            for i in order.items
        ],
        "amount": order.amount,
        "paymentMethod": order.payment_method,
    }
    return await services.post("orders", path, terms, correlation_id=cid)


async def _reserve(services: Services, order: OrderSpec, cid: str | None, _: str) -> Answer:
    items = [{"sku": i["sku"], "quantity": i["quantity"]} for i in order.items]
    payload = {"orderId": order.order_id, "items": items}
    return await services.post("inventory", "/reservations", payload, correlation_id=cid)


async def _authorize(services: Services, order: OrderSpec, cid: str | None, _: str) -> Answer:
    payload = {
        "orderId": order.order_id,
        "customerId": order.customer_id,
        "amount": order.amount,
        "paymentMethod": order.payment_method,
    }
    return await services.post("payments", "/payments", payload, correlation_id=cid)


async def _commit(services: Services, order: OrderSpec, cid: str | None, _: str) -> Answer:
    path = f"/reservations/{order.order_id}/commit"
    return await services.post("inventory", path, None, correlation_id=cid)


async def _complete(services: Services, order: OrderSpec, cid: str | None, _: str) -> Answer:
    path = f"/orders/{order.order_id}/complete"
    return await services.post("orders", path, None, correlation_id=cid)


async def _refund(services: Services, order: OrderSpec, cid: str | None, _: str) -> Answer:
    path = f"/payments/{order.order_id}/refund"
    return await services.post("payments", path, None, correlation_id=cid)


async def _release(services: Services, order: OrderSpec, cid: str | None, reason: str) -> Answer:
    path = f"/reservations/{order.order_id}/release"
    return await services.post("inventory", path, {"reason": reason}, correlation_id=cid)


async def _cancel(services: Services, order: OrderSpec, cid: str | None, reason: str) -> Answer:
    path = f"/orders/{order.order_id}/cancel"
    return await services.post("orders", path, {"reason": reason}, correlation_id=cid)


_CALLS: dict[Step, StepFn] = {
    Step.VERIFY_ORDER: _verify,
    Step.RESERVE_STOCK: _reserve,
    Step.AUTHORIZE_PAYMENT: _authorize,
    Step.COMMIT_RESERVATION: _commit,
    Step.COMPLETE_ORDER: _complete,
    Step.REFUND_PAYMENT: _refund,
    Step.RELEASE_STOCK: _release,
    Step.CANCEL_ORDER: _cancel,
}
